/**
 * In-place update of an MDMF file (the pure part of Tahoe's Publish.update): new bytes at an
 * offset re-encode only the segments they touch (with fresh salts), every share's block hash
 * tree is patched, the share hash tree and root rebuilt, the prefix re-signed; each share
 * gets write vectors for just what changed:
 *
 *   prefix (and the offsets table when the file grows), share hash chain + signature,
 *   `salt || block` of the touched segments, the changed block-hash-tree nodes (the whole
 *   tree when growth moves it or deepens it).
 *
 * Applied to the old share, the writes give exactly the share encodeMutable would build for
 * the new contents with the same salts. The file never shrinks: writing past the end extends
 * it, with zeros between the old end and the offset.
 *
 * The caller supplies what only the grid has: every share's verified block hash tree and the
 * old plaintext of the (at most two) partly overwritten segments, as planUpdate names them.
 */
import { InputError } from '../errors.ts';
import { buildHashTree, buildPackedHashTree, pairHash, roundupPow2 } from '../hashtree/tree.ts';
import {
  blockTreeBytes,
  encodeMutableChain,
  encodeOffsets,
  headerFor,
  type MutableShareHeader,
  type MutableShareLayout,
  segmentOffset,
  shareLayout,
} from './layout.ts';
import type { ReadKey } from './keys.ts';
import {
  checkstringOf,
  encodePrefix,
  type MutableGeometry,
  mutableGeometry,
  type SignedPrefix,
  segmentSpan,
} from './prefix.ts';
import { encodeMutableSegment } from './segment.ts';
import { freshSalt, type MutableSigner, type MutableTools } from './encode.ts';
import { concatBytes, equalBytes } from '../primitives/bytes.ts';

/** One write vector: `data` at byte `offset` of a share. */
export interface MutableWrite {
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface UpdatePlan {
  /** The geometry after the update. */
  readonly geometry: MutableGeometry;
  /** Segments re-encoded, first to last inclusive. */
  readonly first: number;
  readonly last: number;
  /** Old segments only partly overwritten: their current plaintext is needed. */
  readonly needed: number[];
}

/** What writing `length` bytes at `offset` re-encodes, and which old plaintext it needs. */
export function planUpdate(current: MutableGeometry, offset: number, length: number): UpdatePlan {
  if (current.format !== 'mdmf')
    throw new InputError('only MDMF files can be updated in place; SDMF is republished whole');
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new InputError(`an update needs a non-negative offset and length, not ${offset} and ${length}`);
  }
  const oldLength = current.dataLength;
  const newLength = Math.max(oldLength, offset + length);
  // Bytes that change: the new ones, and the zeros between the old end and a later offset.
  const start = Math.min(offset, oldLength);
  const end = offset + length;
  if (end <= start) throw new InputError('an update must write at least one byte or extend the file');
  const geometry = mutableGeometry('mdmf', current.k, current.n, current.segmentSize, newLength);
  const seg = current.segmentSize;
  const first = Math.floor(start / seg);
  const last = Math.floor((end - 1) / seg);
  const needed = [...new Set([first, last])].filter((s) => {
    if (s >= current.numSegments) return false;
    const span = segmentSpan(current, s);
    return span.start < offset || span.start + span.length > end; // not wholly overwritten
  });
  return { geometry, first, last, needed };
}

export interface MutableUpdateInput {
  /** The current version: the verified header of any of its shares. */
  readonly current: MutableShareHeader;
  /** Every share's verified block hash tree (packed), indexed by share number 0..N-1. */
  readonly blockHashTrees: readonly Uint8Array[];
  /** Current plaintext of the segments planUpdate(...).needed names. */
  readonly oldSegments: ReadonlyMap<number, Uint8Array>;
  readonly offset: number;
  readonly data: Uint8Array;
  /** Higher than any seen on the grid. */
  readonly seqnum: number;
  readonly readKey: ReadKey;
  readonly signer: MutableSigner;
  /** random(16) is called once per re-encoded segment, in order. */
  readonly random: (length: number) => Uint8Array;
}

export interface MutableUpdate {
  readonly plan: UpdatePlan;
  readonly prefix: SignedPrefix;
  readonly header: MutableShareHeader;
  readonly prefixBytes: Uint8Array;
  readonly checkstring: Uint8Array;
  /** The test vector's specimen: the checkstring the shares hold now. */
  readonly oldCheckstring: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly signature: Uint8Array;
  /** New salts of the re-encoded segments. */
  readonly salts: ReadonlyMap<number, Uint8Array>;
  /** Each share's new block hash tree (packed), for a later update. */
  readonly blockHashTrees: Uint8Array[];
  /** Write vectors by share number, in ascending offset order. */
  readonly writes: MutableWrite[][];
}

export async function encodeUpdate(input: MutableUpdateInput, tools: MutableTools): Promise<MutableUpdate> {
  const old = input.current;
  const g0 = old.prefix;
  const plan = planUpdate(g0, input.offset, input.data.length);
  const { geometry: g, first, last } = plan;
  const { k, n } = g;
  if (input.blockHashTrees.length !== n) {
    throw new InputError(
      `an update needs the block hash trees of all ${n} shares, not ${input.blockHashTrees.length}`,
    );
  }
  const oldTreeBytes = blockTreeBytes(g0);
  input.blockHashTrees.forEach((t, sh) => {
    if (t.length !== oldTreeBytes)
      throw new InputError(`share ${sh}'s block hash tree is ${t.length} bytes, not ${oldTreeBytes}`);
  });
  // A cheap guard against stale or mismatched trees (their insides were verified on reading).
  const oldRoot = buildHashTree(input.blockHashTrees.map((t) => t.subarray(0, 32)))[0];
  if (!equalBytes(oldRoot, g0.rootHash)) {
    throw new InputError("the block hash trees given are not the current version's");
  }
  if (!Number.isSafeInteger(input.seqnum) || input.seqnum <= g0.seqnum) {
    throw new InputError(
      `the new sequence number must be above the current ${g0.seqnum}, not ${input.seqnum}`,
    );
  }
  for (const s of plan.needed) {
    const want = segmentSpan(g0, s).length;
    if (input.oldSegments.get(s)?.length !== want) {
      throw new InputError(`the update needs old segment ${s} (${want} bytes)`);
    }
  }

  const l0 = old.layout;
  const pubkeyLength = l0.pubkeyEnd - l0.pubkey;
  const encPrivKeyLength = l0.shareHashChain - l0.encPrivKey;
  const layout = shareLayout(g, pubkeyLength, encPrivKeyLength);

  // Re-encode the touched segments.
  const salts = new Map<number, Uint8Array>();
  const stored: Uint8Array[][] = Array.from({ length: n }, () => []);
  const newLeaves: Uint8Array[][] = Array.from({ length: n }, () => []);
  for (let s = first; s <= last; s++) {
    const span = segmentSpan(g, s);
    const plaintext = new Uint8Array(span.length); // zeros where neither old nor new bytes fall
    const before = input.oldSegments.get(s);
    if (before) plaintext.set(before);
    const from = Math.max(span.start, input.offset);
    const to = Math.min(span.start + span.length, input.offset + input.data.length);
    if (to > from)
      plaintext.set(input.data.subarray(from - input.offset, to - input.offset), from - span.start);
    const salt = freshSalt(input.random);
    salts.set(s, salt);
    const seg = await encodeMutableSegment(
      { format: 'mdmf', k, n, salt, readKey: input.readKey, plaintext },
      tools.backend,
      tools.codec,
    );
    for (let sh = 0; sh < n; sh++) {
      stored[sh].push(seg.stored[sh]);
      newLeaves[sh].push(seg.leaves[sh]);
    }
  }

  // Patch each block hash tree: in place when its shape holds, rebuilt when it deepens.
  const p0 = roundupPow2(g0.numSegments);
  const p = roundupPow2(g.numSegments);
  const blockTrees = input.blockHashTrees.map((oldTree, sh) =>
    p === p0
      ? patchTree(oldTree, p, first, newLeaves[sh])
      : rebuildTree(oldTree, p0, g0.numSegments, g.numSegments, first, newLeaves[sh]),
  );
  const shareTree = buildHashTree(blockTrees.map((t) => t.subarray(0, 32)));
  const rootHash = shareTree[0].slice();
  const prefixBytes = encodePrefix({
    format: 'mdmf',
    seqnum: input.seqnum,
    rootHash,
    k,
    n,
    segmentSize: g.segmentSize,
    dataLength: g.dataLength,
  });
  const signature = await input.signer.sign(prefixBytes);
  const header = headerFor(prefixBytes, pubkeyLength, encPrivKeyLength);
  const moved = layout.blockHashTree !== l0.blockHashTree || p !== p0;

  const writes = blockTrees.map((tree, sh) => {
    const out: MutableWrite[] = [];
    // Prefix; the offsets table too when growth moved the tree and EOF.
    out.push({ offset: 0, data: moved ? concatBytes(prefixBytes, encodeOffsets(layout)) : prefixBytes });
    // Chain and signature are adjacent in MDMF.
    out.push({
      offset: layout.shareHashChain,
      data: concatBytes(encodeMutableChain(n, sh, shareTree), signature),
    });
    out.push({ offset: segmentOffset(layout, g, first), data: concatBytes(...stored[sh]) });
    if (moved) out.push({ offset: layout.blockHashTree, data: tree });
    else out.push(...treeWrites(layout, tree, p, first, last));
    return out;
  });
  return {
    plan,
    prefix: header.prefix,
    header,
    prefixBytes,
    checkstring: checkstringOf(prefixBytes),
    oldCheckstring: checkstringOf(old.prefixBytes),
    rootHash,
    signature,
    salts,
    blockHashTrees: blockTrees,
    writes,
  };
}

/** A copy of `tree` (P leaves) with leaves from `first` replaced and their ancestors rehashed. */
function patchTree(tree: Uint8Array, p: number, first: number, leaves: readonly Uint8Array[]): Uint8Array {
  const out = tree.slice();
  const node = (i: number) => out.subarray(32 * i, 32 * i + 32);
  let lo = p - 1 + first;
  let hi = lo + leaves.length - 1;
  leaves.forEach((leaf, j) => {
    out.set(leaf, 32 * (lo + j));
  });
  while (lo > 0) {
    lo = (lo - 1) >> 1;
    hi = (hi - 1) >> 1;
    for (let i = lo; i <= hi; i++) out.set(pairHash(node(2 * i + 1), node(2 * i + 2)), 32 * i);
  }
  return out;
}

/** The tree over the old leaves with `leaves` from `first` on, for a tree that grew deeper. */
function rebuildTree(
  tree: Uint8Array,
  p0: number,
  oldCount: number,
  count: number,
  first: number,
  leaves: readonly Uint8Array[],
): Uint8Array {
  const packed = new Uint8Array(32 * count);
  packed.set(tree.subarray(32 * (p0 - 1), 32 * (p0 - 1 + Math.min(oldCount, first))));
  leaves.forEach((leaf, j) => {
    packed.set(leaf, 32 * (first + j));
  });
  return buildPackedHashTree(packed);
}

/** The tree nodes that changed (ancestors of leaves first..last), one write per tree level. */
function treeWrites(
  l: MutableShareLayout,
  tree: Uint8Array,
  p: number,
  first: number,
  last: number,
): MutableWrite[] {
  const out: MutableWrite[] = [];
  let lo = p - 1 + first;
  let hi = p - 1 + last;
  for (;;) {
    out.push({ offset: l.blockHashTree + 32 * lo, data: tree.subarray(32 * lo, 32 * (hi + 1)) });
    if (lo === 0) break;
    lo = (lo - 1) >> 1;
    hi = (hi - 1) >> 1;
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** Apply write vectors to a share as a storage server does (gaps zero-filled, never shrinks). */
export function applyWrites(share: Uint8Array, writes: readonly MutableWrite[]): Uint8Array {
  const end = writes.reduce((a, w) => Math.max(a, w.offset + w.data.length), share.length);
  const out = new Uint8Array(end);
  out.set(share);
  for (const w of writes) out.set(w.data, w.offset);
  return out;
}
