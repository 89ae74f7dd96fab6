/**
 * Tahoe's Merkle hash trees (reference/tahoe-formats.md §1.7): leaf row padded to a power of
 * two with tagged "empty leaf" hashes, interior nodes are tagged pair hashes, stored as one
 * array root-first, breadth-first. Pure and synchronous (trees are built from 32-byte leaves).
 */
import { InputError } from '../errors.ts';
import { utf8 } from '../primitives/bytes.ts';
import { TAG_MERKLE_EMPTY_LEAF, TAG_MERKLE_INTERNAL } from '../primitives/tags.ts';
import { tagPrefix, taggedHash, taggedPairHash } from '../primitives/tagged-hash.ts';

/** Smallest power of two >= x, with roundupPow2(0) = 1. */
export function roundupPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/** Number of nodes in the tree over `numLeaves` leaves: 2P - 1. */
export function treeSize(numLeaves: number): number {
  return 2 * roundupPow2(numLeaves) - 1;
}

/** Node index of leaf `leaf` in a tree over `numLeaves` leaves. */
export function leafIndex(numLeaves: number, leaf: number): number {
  return roundupPow2(numLeaves) - 1 + leaf;
}

export const parentOf = (i: number): number => Math.floor((i - 1) / 2);
export const siblingOf = (i: number): number => (i % 2 === 1 ? i + 1 : i - 1);

/** The hash standing in for missing leaf position `i`. */
export function emptyLeafHash(i: number): Uint8Array {
  if (i >= EMPTY_LEAVES_KEPT) return taggedHash(TAG_MERKLE_EMPTY_LEAF, utf8(String(i)));
  let h = emptyLeaves[i];
  if (!h) {
    h = taggedHash(TAG_MERKLE_EMPTY_LEAF, utf8(String(i)));
    emptyLeaves[i] = h;
  }
  return h.slice();
}

// Every small file's share tree pads 10 leaves to 16 with the same six hashes: made once.
const EMPTY_LEAVES_KEPT = 1024;
const emptyLeaves: Uint8Array[] = [];

/** The interior-node tag's netstring: what a backend's createPairHasher is given for these trees. */
export const MERKLE_INTERNAL_PREFIX = tagPrefix(TAG_MERKLE_INTERNAL);

export function pairHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return taggedPairHash(TAG_MERKLE_INTERNAL, left, right);
}

/** The whole tree (2P-1 hashes, T[0] the root) over the given 32-byte leaf hashes. */
export function buildHashTree(leaves: readonly Uint8Array[]): Uint8Array[] {
  const packed = new Uint8Array(32 * leaves.length);
  leaves.forEach((leaf, j) => {
    if (leaf.length !== 32) throw new InputError(`hash tree leaf ${j} is ${leaf.length} bytes, not 32`);
    packed.set(leaf, 32 * j);
  });
  const tree = buildPackedHashTree(packed);
  return Array.from({ length: tree.length / 32 }, (_, i) => tree.subarray(32 * i, 32 * i + 32));
}

/**
 * The same tree as one buffer: node i at bytes [32i, 32i+32), from leaves packed the same
 * way. What a share stores, and compact for files with many segments.
 */
export function buildPackedHashTree(leaves: Uint8Array): Uint8Array {
  if (leaves.length % 32 !== 0)
    throw new InputError('packed hash tree leaves must be a multiple of 32 bytes');
  const count = leaves.length / 32;
  const p = roundupPow2(count);
  const out = new Uint8Array(32 * (2 * p - 1));
  out.set(leaves, 32 * (p - 1));
  for (let j = count; j < p; j++) out.set(emptyLeafHash(j), 32 * (p - 1 + j));
  const node = (i: number) => out.subarray(32 * i, 32 * i + 32);
  for (let i = p - 2; i >= 0; i--) out.set(pairHash(node(2 * i + 1), node(2 * i + 2)), 32 * i);
  return out;
}

/** Siblings on the path from `node` up to (not including) the root, in walk order. */
export function neededFor(node: number): number[] {
  const out: number[] = [];
  for (let i = node; i > 0; i = parentOf(i)) out.push(siblingOf(i));
  return out;
}
