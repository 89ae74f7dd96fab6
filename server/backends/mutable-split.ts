/**
 * A mutable container cut in two for an object store (pure): the share's own bytes (the
 * header's first 100 bytes and the data region) and its leases (the four slots and the
 * extra-lease block after the data). Kept as two objects, renewing or expiring a lease
 * rewrites the small lease part and never the share, as with immutable shares. Joined,
 * the parts are the Tahoe container byte for byte (tahoe-formats §7.3).
 */
import { decodeMutableHeader, MUTABLE_DATA_OFFSET, MUTABLE_HEADER_BYTES } from '../containers.ts';

/** Bytes of the lease part before the extra-lease block: the header's four slots. */
export const MUTABLE_SLOT_BYTES = MUTABLE_DATA_OFFSET - MUTABLE_HEADER_BYTES;

export interface MutableParts {
  /** Header bytes 0..100, then the container from 468 to its extra-lease offset. */
  share: Uint8Array;
  /** The four lease slots (368 bytes), then everything from the extra-lease offset on. */
  leases: Uint8Array;
}

/**
 * The two parts of `container`, or null when it is no whole container (shorter than its
 * header, not a mutable header, or an extra-lease offset outside it): such bytes are kept whole.
 */
export function splitMutable(container: Uint8Array): MutableParts | null {
  if (container.length < MUTABLE_DATA_OFFSET) return null;
  let offset: number;
  try {
    offset = decodeMutableHeader(container).extraLeaseOffset;
  } catch {
    return null;
  }
  if (offset < MUTABLE_DATA_OFFSET || offset > container.length) return null;
  const share = new Uint8Array(MUTABLE_HEADER_BYTES + offset - MUTABLE_DATA_OFFSET);
  share.set(container.subarray(0, MUTABLE_HEADER_BYTES));
  share.set(container.subarray(MUTABLE_DATA_OFFSET, offset), MUTABLE_HEADER_BYTES);
  const leases = new Uint8Array(MUTABLE_SLOT_BYTES + container.length - offset);
  leases.set(container.subarray(MUTABLE_HEADER_BYTES, MUTABLE_DATA_OFFSET));
  leases.set(container.subarray(offset), MUTABLE_SLOT_BYTES);
  return { share, leases };
}

/**
 * The container the parts were cut from. A missing lease part (`null`: a change that
 * stopped between its two writes, which the server's journal replays) reads as four empty
 * slots and no extra leases. Null when the parts cannot be one container's.
 */
export function joinMutable(share: Uint8Array, leases: Uint8Array | null): Uint8Array | null {
  const l = leases ?? new Uint8Array(MUTABLE_SLOT_BYTES);
  if (share.length < MUTABLE_HEADER_BYTES || l.length < MUTABLE_SLOT_BYTES) return null;
  const out = new Uint8Array(share.length + l.length);
  out.set(share.subarray(0, MUTABLE_HEADER_BYTES));
  out.set(l.subarray(0, MUTABLE_SLOT_BYTES), MUTABLE_HEADER_BYTES);
  out.set(share.subarray(MUTABLE_HEADER_BYTES), MUTABLE_DATA_OFFSET);
  out.set(l.subarray(MUTABLE_SLOT_BYTES), MUTABLE_DATA_OFFSET + share.length - MUTABLE_HEADER_BYTES);
  return out;
}
