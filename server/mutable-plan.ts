/**
 * How a change to a mutable container becomes byte patches (pure). A read-test-write (or a
 * lease) changes a few places of a container: the data written, the header (data length,
 * extra-lease offset, the four lease slots), and the extra-lease block after the data,
 * which moves when the data grows. Only those bytes are written, so a write costs what it
 * touches, not the size of the share.
 *
 * The plan is applied as: every patch in order, then the file set to `size` (cut, or
 * extended with zeros). Patches are absolute bytes at absolute offsets, so applying a plan
 * again to a file it was partly or wholly applied to gives the same result: that is what
 * makes a journal of it safe to replay after a crash.
 *
 * The result is byte for byte the container a whole rewrite would give
 * (tahoe-formats §7.5): data with gaps zero-filled, leases in the four slots then the
 * extra-lease block at 468 + data length, nothing after it.
 */
import type { WriteVector } from '../core/protocol/storage-api.ts';
import {
  decodeExtraLeases,
  decodeMutableHeader,
  encodeExtraLeases,
  encodeMutableHeader,
  type Lease,
  MUTABLE_DATA_OFFSET,
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
  /** Leases of the four slots, then the extra ones. */
  leases: Lease[];
  fileSize: number;
}

/**
 * A container's state from its header bytes, the bytes from its extra-lease offset to the
 * end (`tailBytes`, read once the header said where) and its size.
 */
export function slotState(headerBytes: Uint8Array, tailBytes: Uint8Array, fileSize: number): SlotState {
  const header = decodeMutableHeader(headerBytes);
  if (header.extraLeaseOffset < MUTABLE_DATA_OFFSET + header.dataLength) {
    throw new Error('mutable container is corrupt: its extra leases overlap its data');
  }
  return {
    header,
    headerBytes,
    tailBytes,
    leases: [...header.slots.filter((l): l is Lease => l !== null), ...decodeExtraLeases(tailBytes)],
    fileSize,
  };
}

export interface SlotChange {
  writes: WriteVector[];
  /** Cuts the data to this length if shorter (null: keep). */
  newLength: number | null;
  /** The share's leases afterwards. */
  leases: Lease[];
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

  const patches: Patch[] = [];
  // Bytes between the old data end and the new one that no write covers must read as
  // zeros; on disk they may hold the old extra-lease block. (Past the old end of file,
  // extending the file gives zeros for free.) Zero them first; the writes then land on top.
  if (old) {
    const zeroEnd = Math.min(old.fileSize, D + maxEnd);
    if (zeroEnd > D + oldLength) {
      patches.push({ offset: D + oldLength, data: new Uint8Array(zeroEnd - D - oldLength) });
    }
  }
  for (const w of change.writes) {
    if (w.data.length > 0) patches.push({ offset: D + w.offset, data: w.data });
  }

  const extraOffset = D + length;
  const tail = encodeExtraLeases(change.leases.slice(MUTABLE_SLOTS));
  const reachedByData = patches.reduce((end, p) => Math.max(end, p.offset + p.data.length), 0);
  if (old && extraOffset === old.header.extraLeaseOffset && reachedByData <= extraOffset) {
    patches.push(...diffPatches(extraOffset, old.tailBytes, tail));
  } else {
    patches.push({ offset: extraOffset, data: tail });
  }

  const header = encodeMutableHeader({
    nodeId: old ? old.header.nodeId : identity.nodeId,
    writeEnabler: old ? old.header.writeEnabler : identity.writeEnabler,
    dataLength: length,
    extraLeaseOffset: extraOffset,
    slots: change.leases.slice(0, MUTABLE_SLOTS),
  });
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
