/**
 * A packed hash tree (same bytes as buildPackedHashTree) built while its leaves arrive in
 * order: each interior node is hashed as soon as its right child is known. The encoder
 * adds a segment's leaves as the segment comes back, so the pair hashes (pure JS, ~5-10 µs
 * each in Chromium; thousands per file) run while the workers code later segments instead
 * of all at the end of the upload.
 */
import { emptyLeafHash, pairHash, roundupPow2 } from '../hashtree/tree.ts';
import type { PairHasher } from '../primitives/crypto-backend.ts';

export class PackedTreeBuilder {
  readonly #count: number;
  readonly #first: number;
  readonly #out: Uint8Array;
  readonly #pair: PairHasher;
  #next = 0;

  /**
   * A tree over exactly `count` leaves (at least 1). `pair` must be the Merkle interior-node
   * hash (a backend's createPairHasher(MERKLE_INTERNAL_PREFIX)); default: noble's.
   */
  constructor(count: number, pair: PairHasher = pairHash) {
    this.#pair = pair;
    const p = roundupPow2(count);
    this.#count = count;
    this.#first = p - 1;
    this.#out = new Uint8Array(32 * (2 * p - 1));
  }

  /** The next leaf, in order (32 bytes). */
  add(leaf: Uint8Array): void {
    if (this.#next >= this.#count) throw new RangeError(`tree over ${this.#count} leaves is full`);
    this.#place(leaf);
  }

  /** Pads the leaf row with empty-leaf hashes and returns the whole tree (root first). */
  finish(): Uint8Array {
    if (this.#next < this.#count) {
      throw new RangeError(`tree has ${this.#next} of its ${this.#count} leaves`);
    }
    while (this.#first + this.#next < this.#out.length / 32) this.#place(emptyLeafHash(this.#next));
    return this.#out;
  }

  #place(leaf: Uint8Array): void {
    const out = this.#out;
    let x = this.#first + this.#next++;
    out.set(leaf, 32 * x);
    // A right child (even index) completes its parent; leaves come in order, so the left
    // sibling's subtree is already done.
    while (x > 0 && x % 2 === 0) {
      const parent = (x - 2) / 2;
      out.set(this.#pair(out.subarray(32 * (x - 1), 32 * x), out.subarray(32 * x, 32 * x + 32)), 32 * parent);
      x = parent;
    }
  }
}
