/** Byte ranges of a bucket being written (shared with the client: core/protocol/ranges.ts). */
export { addRange, countAfterAdd, coveredBytes, overlaps, type Range } from '../core/protocol/ranges.ts';
