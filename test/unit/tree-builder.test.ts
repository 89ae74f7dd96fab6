/** The incremental tree builder gives buildPackedHashTree's bytes for every leaf count. */
import { describe, expect, it } from 'vitest';
import { buildPackedHashTree } from '../../core/hashtree/tree.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { sha256d } from '../../core/primitives/tagged-hash.ts';
import { PackedTreeBuilder } from '../../core/immutable/tree-builder.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { webCrypto } from '../../core/primitives/crypto-web.ts';
import { TAG_MERKLE_INTERNAL } from '../../core/primitives/tags.ts';
import { tagPrefix, taggedPairHash } from '../../core/primitives/tagged-hash.ts';

describe('PackedTreeBuilder', () => {
  it('matches buildPackedHashTree for 1..70 leaves', () => {
    for (let count = 1; count <= 70; count++) {
      const leaves = new Uint8Array(32 * count);
      for (let j = 0; j < count; j++) leaves.set(sha256d(new Uint8Array([count, j])), 32 * j);
      const b = new PackedTreeBuilder(count);
      for (let j = 0; j < count; j++) b.add(leaves.subarray(32 * j, 32 * j + 32));
      expect(toHex(b.finish())).toBe(toHex(buildPackedHashTree(leaves)));
    }
  });

  it("with either backend's pair hasher, gives the same bytes", async () => {
    const a = sha256d(new Uint8Array([1]));
    const long = new Uint8Array(100).fill(9); // a length other than 32 in the netstring
    for (const backend of [nodeCrypto, webCrypto]) {
      const pair = await backend.createPairHasher(tagPrefix(TAG_MERKLE_INTERNAL));
      expect(toHex(pair(a, long))).toBe(toHex(taggedPairHash(TAG_MERKLE_INTERNAL, a, long)));
      // Shorter inputs after a longer one (a hasher may reuse its input buffer).
      expect(toHex(pair(long, a))).toBe(toHex(taggedPairHash(TAG_MERKLE_INTERNAL, long, a)));
      expect(toHex(pair(a, a))).toBe(toHex(taggedPairHash(TAG_MERKLE_INTERNAL, a, a)));
      for (const count of [1, 2, 5, 33]) {
        const leaves = new Uint8Array(32 * count).map((_, i) => (i * 7 + count) & 255);
        const b = new PackedTreeBuilder(count, pair);
        for (let j = 0; j < count; j++) b.add(leaves.subarray(32 * j, 32 * j + 32));
        expect(toHex(b.finish())).toBe(toHex(buildPackedHashTree(leaves)));
      }
    }
  });

  it('refuses a leaf too many and finishing early', () => {
    const b = new PackedTreeBuilder(2);
    b.add(new Uint8Array(32));
    expect(() => b.finish()).toThrow(/1 of its 2 leaves/);
    b.add(new Uint8Array(32));
    expect(() => b.add(new Uint8Array(32))).toThrow(/full/);
  });
});
