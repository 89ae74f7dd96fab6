import { describe, expect, it } from 'vitest';
import { toHex } from '../../core/primitives/bytes.ts';
import { TAG_BLOCK } from '../../core/primitives/tags.ts';
import { taggedHash } from '../../core/primitives/tagged-hash.ts';
import {
  BadHashError,
  buildHashTree,
  checkFullTree,
  emptyLeafHash,
  IncompleteHashTree,
  leafIndex,
  NotEnoughHashesError,
  neededFor,
  pairHash,
  roundupPow2,
} from '../../core/hashtree/index.ts';

const leaf = (i: number) => taggedHash(TAG_BLOCK, new Uint8Array([i]));
const leaves = (n: number) => Array.from({ length: n }, (_, i) => leaf(i));

describe('hash tree building', () => {
  it('roundupPow2 has Tahoe edge cases', () => {
    expect([0, 1, 2, 3, 4, 5, 255, 256, 257].map(roundupPow2)).toEqual([1, 1, 2, 4, 4, 8, 256, 256, 512]);
  });

  it('matches the reference known answer for three leaves', () => {
    const t = buildHashTree(leaves(3));
    expect(t.length).toBe(7);
    expect(toHex(t[0])).toBe('7c2da99697c4509052ce58ac665d1e01708957d8238a2862500e3eb055146de1');
    expect(toHex(t[6])).toBe(toHex(emptyLeafHash(3)));
    expect(toHex(t[1])).toBe(toHex(pairHash(t[3], t[4])));
  });

  it('one leaf is its own root; zero leaves is the empty-leaf hash', () => {
    expect(buildHashTree([leaf(5)])).toEqual([leaf(5)]);
    expect(buildHashTree([])).toEqual([emptyLeafHash(0)]);
  });

  it('neededFor walks siblings to the root', () => {
    // 8 leaves: leaf 0 is node 7; siblings 8, then 4 (sibling of 3), then 2 (sibling of 1).
    expect(neededFor(7)).toEqual([8, 4, 2]);
    expect(neededFor(0)).toEqual([]);
  });
});

describe('hash tree verification', () => {
  const t = buildHashTree(leaves(5)); // P = 8, 15 nodes
  const pick = (nodes: number[]) => new Map(nodes.map((i) => [i, t[i]]));

  it('accepts a leaf with its chain, then knows the leaf', () => {
    const tree = new IncompleteHashTree(5, t[0]);
    const node = leafIndex(5, 2);
    tree.setHashes(pick([node, ...neededFor(node)]));
    expect(tree.leaf(2)).toEqual(t[node]);
  });

  it('tells a missing hash from a wrong one, and keeps nothing from a rejected set', () => {
    const tree = new IncompleteHashTree(5, t[0]);
    const node = leafIndex(5, 2);
    expect(() => tree.setHashes(pick([node]))).toThrow(NotEnoughHashesError);
    const bad = pick([node, ...neededFor(node)]);
    const wrong = t[node].slice();
    wrong[31] ^= 1;
    bad.set(node, wrong);
    expect(() => tree.setHashes(bad)).toThrow(BadHashError);
    expect(tree.get(node)).toBeUndefined();
    for (const i of neededFor(node)) expect(tree.get(i)).toBeUndefined();
  });

  it('rejects a wrong sibling even when the leaf is right', () => {
    const tree = new IncompleteHashTree(5, t[0]);
    const node = leafIndex(5, 0);
    const hashes = pick([node, ...neededFor(node)]);
    hashes.set(neededFor(node)[1], t[5]);
    expect(() => tree.setHashes(hashes)).toThrow(BadHashError);
  });

  it('every leaf of trees with 1 to 20 leaves verifies from its chain alone', () => {
    for (let n = 1; n <= 20; n++) {
      const full = buildHashTree(leaves(n));
      for (let j = 0; j < n; j++) {
        const tree = new IncompleteHashTree(n, full[0]);
        const node = leafIndex(n, j);
        tree.setHashes(new Map([node, ...neededFor(node)].map((i) => [i, full[i]])));
        expect(tree.leaf(j)).toEqual(leaf(j));
      }
    }
  });

  it('checkFullTree accepts the real tree and rejects any flipped node', () => {
    expect(checkFullTree(t, 5, t[0]).map(toHex)).toEqual(leaves(5).map(toHex));
    for (let i = 0; i < t.length; i++) {
      const copy = t.map((h) => h.slice());
      copy[i][i % 32] ^= 0x80;
      expect(() => checkFullTree(copy, 5, t[0])).toThrow(BadHashError);
    }
    expect(() => checkFullTree(t.slice(1), 5, t[0])).toThrow(/nodes/);
  });
});
