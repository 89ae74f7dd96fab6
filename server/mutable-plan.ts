/**
 * How a change to a mutable container becomes byte patches (pure). A read-test-write (or a
 * lease) changes a few places of a container: the data written, the header (data length,
 * extra-lease offset, the four lease slots), and the extra-lease block after the data,
 * which moves when the data grows past it. Only those bytes are written, so a write costs
 * what it touches, not the size of the share.
 *
 * The plan is applied as: every patch in order, then the file set to `size` (cut, or
 * extended with zeros). Patches are absolute bytes at absolute offsets, so applying a plan
 * again to a file it was partly or wholly applied to gives the same result: that is what
 * makes a journal of it safe to replay after a crash.
 *
 * The result is byte for byte the container Tahoe's MutableShareFile leaves after the same
 * operations (storage/mutable.py; tahoe-formats §7.5):
 *  - a write past the data end zero-fills the gap and raises the data length; one past
 *    the extra-lease block moves the block to just after it (468 + end), zeroing where it
 *    was; the container never shrinks: a smaller `newLength` lowers the data length only,
 *    the bytes after it stay until overwritten;
 *  - lease records keep their places: a renewal rewrites its record, a new lease takes
 *    the first empty slot (owner 0) or is appended to the extra block, and a dropped
 *    lease becomes Tahoe's blank record in place.
 */
import type { WriteVector } from '../core/protocol/storage-api.ts';
import { equalBytes } from '../core/primitives/bytes.ts';
import {
  blankMutableLease,
  decodeMutableHeader,
  decodeMutableLease,
  encodeMutableHeader,
  encodeMutableLease,
  extraLeaseRecords,
  type Lease,
  MUTABLE_DATA_OFFSET,
  MUTABLE_HEADER_BYTES,
  MUTABLE_LEASE_BYTES,
  MUTABLE_SLOTS,
  type MutableHeader,
} from './containers.ts';

/** A container as found on disk. */
export interface SlotState {
  header: MutableHeader;
  /** The header's 468 bytes as stored. */
  headerBytes: Uint8Array;
  /** The bytes from the extra-lease offset to the end of the file, as stored. */
  tailBytes: Uint8Array;
  /** Every lease record, raw, in Tahoe's numbering: the four slots, then the extra ones. */
  records: Uint8Array[];
  /** The records read (null: an empty slot). */
  leases: Array<Lease | null>;
  /** Where the container ends: just past its extra-lease block. */
  fileSize: number;
  /**
   * The file's length on disk: more than fileSize when a change stopped after writing bytes
   * past the end and before its journal (a crash). Nothing reads those; the next change cuts them.
   */
  storedSize: number;
}

/**
 * A container's state from its header bytes, the bytes from its extra-lease offset to the
 * end (`tailBytes`, read once the header said where; tailLength says how many belong to it)
 * and its size.
 */
export function slotState(
  headerBytes: Uint8Array,
  tailBytes: Uint8Array,
  fileSize: number,
  storedSize = fileSize,
): SlotState {
  const header = decodeMutableHeader(headerBytes);
  if (header.extraLeaseOffset < MUTABLE_DATA_OFFSET + header.dataLength) {
    throw new Error('mutable container is corrupt: its extra leases overlap its data');
  }
  const records = [
    ...Array.from({ length: MUTABLE_SLOTS }, (_, i) =>
      headerBytes.subarray(
        MUTABLE_HEADER_BYTES + i * MUTABLE_LEASE_BYTES,
        MUTABLE_HEADER_BYTES + (i + 1) * MUTABLE_LEASE_BYTES,
      ),
    ),
    ...extraLeaseRecords(tailBytes),
  ];
  return {
    header,
    headerBytes,
    tailBytes,
    records,
    leases: records.map(decodeMutableLease),
    fileSize,
    storedSize,
  };
}

/**
 * Bytes of a container's extra-lease block (from its offset), given the first bytes there
 * and how many the file holds past the offset: the count and its records, no more.
 */
export function tailLength(first: Uint8Array, available: number): number {
  if (available < 4 || first.length < 4) return Math.max(0, available);
  const count = new DataView(first.buffer, first.byteOffset, 4).getUint32(0);
  return Math.min(available, 4 + count * MUTABLE_LEASE_BYTES);
}

/** The leases of a container, empty slots left out. */
export function liveLeases(s: SlotState): Lease[] {
  return s.leases.filter((l): l is Lease => l !== null);
}

export interface SlotChange {
  writes: WriteVector[];
  /** Lowers the data length to this if smaller (null: keep). */
  newLength: number | null;
  /**
   * The share's lease records afterwards, in place (as addOrRenewLease returns them): a
   * record equal to the stored one stays as it is, a null where a lease was becomes the
   * blank record, and records past the old ones are appended.
   */
  leases: Array<Lease | null>;
}

export interface Patch {
  offset: number;
  data: Uint8Array;
}

export interface SlotPlan {
  patches: Patch[];
  /** The file's length afterwards. */
  size: number;
  /** Bytes the file grows by (gaps count in full, though the file system may store them sparsely). */
  growth: number;
}

/** The plan for `change` to `old`, or to a new container of `identity` when `old` is null. */
export function planSlotChange(
  old: SlotState | null,
  identity: Pick<MutableHeader, 'nodeId' | 'writeEnabler'>,
  change: SlotChange,
): SlotPlan {
  const D = MUTABLE_DATA_OFFSET;
  const oldLength = old ? old.header.dataLength : 0;
  let maxEnd = oldLength;
  for (const w of change.writes) maxEnd = Math.max(maxEnd, w.offset + w.data.length);
  const length = change.newLength !== null && change.newLength < maxEnd ? change.newLength : maxEnd;
  const version = old ? old.header.version : 2;

  const patches: Patch[] = [];
  // Bytes between the old data end and the new one that no write covers must read as
  // zeros; on disk they may hold stale data (after a shrink) or the old extra-lease block.
  // (Past the old end of file, extending the file gives zeros for free.) Zero them first;
  // the writes then land on top.
  if (old) {
    const zeroEnd = Math.min(old.fileSize, D + maxEnd);
    if (zeroEnd > D + oldLength) {
      patches.push({ offset: D + oldLength, data: new Uint8Array(zeroEnd - D - oldLength) });
    }
  }
  for (const w of change.writes) {
    if (w.data.length > 0) patches.push({ offset: D + w.offset, data: w.data });
  }

  // The lease records: unchanged ones keep their bytes.
  const oldRecords = old ? old.records : [];
  const records = change.leases.map((l, i) => {
    const before = oldRecords[i];
    if (l === null) {
      if (before === undefined) return new Uint8Array(MUTABLE_LEASE_BYTES);
      return old?.leases[i] === null ? before : blankMutableLease(version);
    }
    const enc = encodeMutableLease(l);
    return before !== undefined && equalBytes(before, enc) ? before : enc;
  });
  for (let i = records.length; i < Math.max(MUTABLE_SLOTS, oldRecords.length); i++) {
    records.push(oldRecords[i] ?? new Uint8Array(MUTABLE_LEASE_BYTES));
  }
  const extra = records.slice(MUTABLE_SLOTS);

  const extraOffset = Math.max(old ? old.header.extraLeaseOffset : D, D + maxEnd);
  const tail = new Uint8Array(4 + extra.length * MUTABLE_LEASE_BYTES);
  new DataView(tail.buffer).setUint32(0, extra.length);
  extra.forEach((r, i) => {
    tail.set(r, 4 + i * MUTABLE_LEASE_BYTES);
  });
  const reachedByData = patches.reduce((end, p) => Math.max(end, p.offset + p.data.length), 0);
  if (old && extraOffset === old.header.extraLeaseOffset && reachedByData <= extraOffset) {
    patches.push(...diffPatches(extraOffset, old.tailBytes, tail));
  } else {
    patches.push({ offset: extraOffset, data: tail });
  }

  const header = old
    ? old.headerBytes.slice()
    : encodeMutableHeader({ ...identity, dataLength: 0, extraLeaseOffset: D, slots: [] });
  const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  hv.setBigUint64(84, BigInt(length));
  hv.setBigUint64(92, BigInt(extraOffset));
  for (let i = 0; i < MUTABLE_SLOTS; i++)
    header.set(records[i], MUTABLE_HEADER_BYTES + i * MUTABLE_LEASE_BYTES);
  if (old) {
    patches.push(...diffPatches(0, old.headerBytes, header));
  } else {
    patches.push({ offset: 0, data: header });
  }

  const size = extraOffset + tail.length;
  return { patches, size, growth: Math.max(0, size - (old ? old.fileSize : 0)) };
}

/** Equal bytes that end a patch: fewer are cheaper to rewrite than a patch's 12-byte journal entry. */
const PATCH_GAP = 16;

/**
 * Patches that turn `before` into `after` at `offset`: the runs of bytes that differ (a
 * new lease's record and the count at the other end of the block are two small patches,
 * not the block). Bytes past `after`'s end are cut later.
 */
function diffPatches(offset: number, before: Uint8Array, after: Uint8Array): Patch[] {
  const same = (i: number) => i < before.length && after[i] === before[i];
  const out: Patch[] = [];
  let i = 0;
  while (i < after.length) {
    if (same(i)) {
      i++;
      continue;
    }
    let end = i + 1;
    for (let j = i + 1; j < after.length && j - end < PATCH_GAP; j++) if (!same(j)) end = j + 1;
    out.push({ offset: offset + i, data: after.subarray(i, end) });
    i = end;
  }
  return out;
}

/**
 * `patches` cut at `fileSize`: the bytes before it (`journaled`), which readers may see, and
 * those at or past it (`beyondEnd`), which no reader looks at (a container is read by its
 * header's lengths and its extra-lease count, never to the end of the file). The second part
 * is written and made durable before the journal, which then carries only the first
 * (mutable-slots.ts). The two parts never overlap, so each keeps the order of `patches` among
 * its own bytes and the result is the same.
 */
export function splitAtEnd(
  patches: readonly Patch[],
  fileSize: number,
): { journaled: Patch[]; beyondEnd: Patch[] } {
  const journaled: Patch[] = [];
  const beyondEnd: Patch[] = [];
  for (const p of patches) {
    const end = p.offset + p.data.length;
    if (end <= fileSize) journaled.push(p);
    else if (p.offset >= fileSize) beyondEnd.push(p);
    else {
      const cut = fileSize - p.offset;
      journaled.push({ offset: p.offset, data: p.data.subarray(0, cut) });
      beyondEnd.push({ offset: fileSize, data: p.data.subarray(cut) });
    }
  }
  return { journaled, beyondEnd };
}
