/**
 * Lease records kept where Tahoe keeps them: at the end of the immutable container, counted
 * in its header. Changes are made in place as Tahoe's ShareFile makes them, so a Tahoe node
 * reading the same share folders sees what it would have written: a renewal rewrites the
 * 4-byte expiry, a new lease is appended and made durable before the count that makes it
 * part of the share, and dropping leases moves the kept ones up, then sets the count, then
 * cuts the file. The share's data is never written.
 */
import { equalBytes } from '../../core/primitives/bytes.ts';
import {
  type ContainerVersion,
  decodeImmutableLeases,
  encodeImmutableHeader,
  encodeImmutableLeases,
  encodeLeaseCount,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  IMMUTABLE_LEASE_COUNT_OFFSET,
  immutableLayout,
  type Lease,
} from '../containers.ts';
import type { ShareFile } from './backend.ts';

/** Bytes of a lease record before its expiry (owner, renew and cancel secrets). */
const EXPIRY_AT = 68;

export interface ContainerLeases {
  version: ContainerVersion;
  leases: Lease[];
  /** Where the first lease record starts (the end of the data). */
  leaseOffset: number;
}

export async function readContainerLeases(f: ShareFile): Promise<ContainerLeases> {
  const layout = immutableLayout(await f.read(0, IMMUTABLE_HEADER_BYTES), await f.size());
  const leases = decodeImmutableLeases(
    await f.read(layout.leaseOffset, layout.leaseCount * IMMUTABLE_LEASE_BYTES),
  );
  return { version: layout.version, leases, leaseOffset: layout.leaseOffset };
}

/** Replaces the records `now` holds with `next`, in place and durably (see the top). */
export async function writeContainerLeases(f: ShareFile, now: ContainerLeases, next: Lease[]): Promise<void> {
  const before = encodeImmutableLeases(now.leases);
  const after = encodeImmutableLeases(next);
  if (next.length < now.leases.length) {
    // Tahoe's cancel_lease: the kept records moved up in order, then the count, then the cut.
    await f.write(now.leaseOffset, after);
    await f.write(IMMUTABLE_LEASE_COUNT_OFFSET, encodeLeaseCount(next.length));
    await f.truncate(now.leaseOffset + after.length);
    await f.sync();
    return;
  }
  let changed = false;
  for (let i = 0; i < now.leases.length; i++) {
    const at = i * IMMUTABLE_LEASE_BYTES;
    const was = before.subarray(at, at + IMMUTABLE_LEASE_BYTES);
    const is = after.subarray(at, at + IMMUTABLE_LEASE_BYTES);
    if (equalBytes(was, is)) continue;
    changed = true;
    // A renewal differs only in its expiry: only those 4 bytes are rewritten, as Tahoe does.
    const from = equalBytes(was.subarray(0, EXPIRY_AT), is.subarray(0, EXPIRY_AT)) ? EXPIRY_AT : 0;
    await f.write(now.leaseOffset + at + from, is.subarray(from));
  }
  if (next.length > now.leases.length) {
    await f.write(now.leaseOffset + before.length, after.subarray(before.length));
    // The record must be on disk before the count that makes it part of the share.
    await f.sync();
    await f.write(IMMUTABLE_LEASE_COUNT_OFFSET, encodeLeaseCount(next.length));
    changed = true;
  }
  if (changed) await f.sync();
}

/** The immutable container of share data given whole: Tahoe's v2 header, the data, the leases. */
export function wholeContainer(data: Uint8Array, leases: Lease[]): Uint8Array {
  const records = encodeImmutableLeases(leases);
  const container = new Uint8Array(IMMUTABLE_HEADER_BYTES + data.length + records.length);
  container.set(encodeImmutableHeader(data.length, leases.length));
  container.set(data, IMMUTABLE_HEADER_BYTES);
  container.set(records, IMMUTABLE_HEADER_BYTES + data.length);
  return container;
}

/**
 * Finishes an immutable container whose data was written at its place (after the header):
 * Tahoe's v2 header, the lease records after the data, and nothing beyond them.
 */
export async function sealContainer(
  f: ShareFile,
  dataLength: number,
  leases: Lease[],
  data?: Uint8Array,
  /** The file does not exist yet (made by this write): nothing lies past the container to cut. */
  fresh = false,
): Promise<void> {
  const records = encodeImmutableLeases(leases);
  if (data) {
    // The share given whole: its container in one write.
    await f.write(0, wholeContainer(data, leases));
    if (fresh) return;
  } else {
    await f.write(0, encodeImmutableHeader(dataLength, leases.length));
    await f.write(IMMUTABLE_HEADER_BYTES + dataLength, records);
  }
  // Also cuts what a write that failed half way may have left past the end.
  await f.truncate(IMMUTABLE_HEADER_BYTES + dataLength + records.length);
}
