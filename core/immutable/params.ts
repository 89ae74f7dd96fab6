/**
 * Encoding parameters and the sizes that follow from them (reference/tahoe-formats.md
 * §2.1-2.6). Pure arithmetic; both the encoder and the decoder start here.
 */
import { InputError } from '../errors.ts';

export interface ChkParams {
  /** Shares needed to read the file. */
  readonly k: number;
  /** Servers-of-happiness threshold (upload placement only; never hashed). */
  readonly happy: number;
  /** Shares made. 1 <= k <= n <= 256. */
  readonly n: number;
  /** Upper bound on the segment size; the real one is adjusted to the file and k. */
  readonly maxSegmentSize: number;
}

/** Cairn's defaults: Tahoe's 3-of-10, happy 7, with 128 KiB segments (design.md). */
export const DEFAULT_CHK_PARAMS: ChkParams = { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 };

/** Files of at most this many bytes become URI:LIT: caps. */
export const LIT_THRESHOLD = 55;

export const divCeil = (n: number, d: number): number => Math.floor((n + d - 1) / d);
export const nextMultiple = (n: number, k: number): number => divCeil(n, k) * k;

export interface SegmentGeometry {
  readonly size: number;
  readonly k: number;
  readonly n: number;
  readonly segmentSize: number;
  readonly numSegments: number;
  readonly blockSize: number;
  /** Bytes of real data in the last segment. */
  readonly tailSize: number;
  /** The last segment zero-padded to a multiple of k. */
  readonly paddedTail: number;
  readonly tailBlockSize: number;
  /** Bytes of blocks in each share: div_ceil(size, k). */
  readonly shareDataSize: number;
}

/** Which of k, happy and N is wrong, and why, in words a person can act on. */
export type EncodingProblems = Partial<Record<'k' | 'happy' | 'n', string>>;

/**
 * The one rule for share counts (CLI flags, web settings and the encoder all use it):
 * 1 <= k <= happy <= N <= maxShares (256 for immutable files, 255 for mutable ones). Each
 * problem is reported on the field that can fix it; an empty object means valid.
 */
export function encodingProblems(
  p: { k: number; happy: number; n: number },
  maxShares = 256,
): EncodingProblems {
  const out: EncodingProblems = {};
  const whole = (v: number) => Number.isSafeInteger(v);
  if (!whole(p.k) || p.k < 1 || p.k > maxShares) out.k = `k must be a whole number from 1 to ${maxShares}.`;
  if (!whole(p.n) || p.n < 1 || p.n > maxShares) out.n = `N must be a whole number from 1 to ${maxShares}.`;
  if (!whole(p.happy) || p.happy < 1 || p.happy > maxShares)
    out.happy = `happy must be a whole number from 1 to ${maxShares}.`;
  if (out.k || out.n || out.happy) return out;
  if (p.k > p.n) out.k = `k (${p.k}) cannot exceed N (${p.n}): a file needs k of its N shares.`;
  else if (p.k > p.happy)
    out.happy = `happy (${p.happy}) must be at least k (${p.k}): fewer servers could not hold k distinct shares.`;
  if (p.happy > p.n)
    out.happy = `happy (${p.happy}) cannot exceed N (${p.n}): there are only N shares to place.`;
  return out;
}

/** Throws the first of encodingProblems(p) as an InputError (uploads check the whole rule). */
export function checkEncoding(p: { k: number; happy: number; n: number }, maxShares = 256): void {
  const problems = encodingProblems(p, maxShares);
  const first = problems.k ?? problems.happy ?? problems.n;
  if (first) throw new InputError(first);
}

/**
 * What the encoder needs: k and N within the rule, a happy it could use, a segment size.
 * happy below k is fine here (Tahoe's vectors were made with happy = 1); placement refuses it.
 */
export function checkParams(p: ChkParams): void {
  checkEncoding({ k: p.k, n: p.n, happy: p.k });
  if (!Number.isSafeInteger(p.happy) || p.happy < 1 || p.happy > p.n) {
    throw new InputError(`happy must be between 1 and N (${p.n}), not ${p.happy}`);
  }
  if (!Number.isSafeInteger(p.maxSegmentSize) || p.maxSegmentSize < 1) {
    throw new InputError(`max segment size must be a positive integer, not ${p.maxSegmentSize}`);
  }
}

/** The segment size Tahoe uses for a file: next_multiple(min(max, size), k). */
export function adjustedSegmentSize(size: number, k: number, maxSegmentSize: number): number {
  return nextMultiple(Math.min(maxSegmentSize, size), k);
}

/** Sizes for a file of `size` >= 1 bytes cut into `segmentSize` segments (a multiple of k). */
export function segmentGeometry(size: number, k: number, n: number, segmentSize: number): SegmentGeometry {
  if (!Number.isSafeInteger(size) || size < 1)
    throw new InputError(`CHK file size must be >= 1, not ${size}`);
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1 || segmentSize % k !== 0) {
    throw new InputError(`segment size must be a positive multiple of k (${k}), not ${segmentSize}`);
  }
  const numSegments = divCeil(size, segmentSize);
  const blockSize = segmentSize / k;
  const tailSize = size % segmentSize || segmentSize;
  const paddedTail = nextMultiple(tailSize, k);
  const tailBlockSize = paddedTail / k;
  const shareDataSize = (numSegments - 1) * blockSize + tailBlockSize;
  return {
    size,
    k,
    n,
    segmentSize,
    numSegments,
    blockSize,
    tailSize,
    paddedTail,
    tailBlockSize,
    shareDataSize,
  };
}

/** Start and length of segment `s` in the plaintext / ciphertext. */
export function segmentSpan(g: SegmentGeometry, s: number): { start: number; length: number } {
  const start = s * g.segmentSize;
  return { start, length: s === g.numSegments - 1 ? g.tailSize : g.segmentSize };
}

/** Length of every share's block for segment `s`. */
export function blockLength(g: SegmentGeometry, s: number): number {
  return s === g.numSegments - 1 ? g.tailBlockSize : g.blockSize;
}
