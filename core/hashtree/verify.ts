/**
 * Checking hashes received from an untrusted server against a trusted root.
 * `IncompleteHashTree` follows Tahoe's hashtree.py: offered hashes are accepted all together
 * or not at all, and a wrong hash (BadHashError) is told apart from a missing one
 * (NotEnoughHashesError). `checkFullTree` validates a whole stored tree at once.
 */
import { InputError } from '../errors.ts';
import { equalBytes } from '../primitives/bytes.ts';
import { BadHashError, NotEnoughHashesError } from './errors.ts';
import { pairHash, parentOf, roundupPow2, siblingOf, treeSize } from './tree.ts';

export class IncompleteHashTree {
  readonly numLeaves: number;
  readonly size: number;
  readonly #trusted = new Map<number, Uint8Array>();

  constructor(numLeaves: number, root: Uint8Array) {
    if (root.length !== 32) throw new InputError('hash tree root must be 32 bytes');
    this.numLeaves = numLeaves;
    this.size = treeSize(numLeaves);
    this.#trusted.set(0, root);
  }

  /** A node's hash if it has been verified. */
  get(node: number): Uint8Array | undefined {
    return this.#trusted.get(node);
  }

  leaf(leaf: number): Uint8Array | undefined {
    return this.#trusted.get(roundupPow2(this.numLeaves) - 1 + leaf);
  }

  /** Verify `hashes` (node index -> hash) against the trusted nodes, then keep them all. */
  setHashes(hashes: ReadonlyMap<number, Uint8Array>): void {
    const pending = new Map<number, Uint8Array>();
    for (const [i, h] of hashes) {
      if (!Number.isInteger(i) || i < 0 || i >= this.size) {
        throw new BadHashError(`hash tree node index ${i} is outside a tree of ${this.size} nodes`);
      }
      if (h.length !== 32) throw new BadHashError(`hash tree node ${i} is ${h.length} bytes, not 32`);
      const known = this.#trusted.get(i);
      if (known) {
        if (!equalBytes(known, h)) throw new BadHashError(`hash tree node ${i} does not match`);
        continue;
      }
      pending.set(i, h);
    }
    const lookup = (i: number) => this.#trusted.get(i) ?? pending.get(i);
    // Deepest first, so a parent computed from one pair can be checked by the next climb.
    for (const start of [...pending.keys()].sort((a, b) => b - a)) {
      for (let cur = start; !this.#trusted.has(cur); cur = parentOf(cur)) {
        const sib = lookup(siblingOf(cur));
        if (!sib) throw new NotEnoughHashesError(`hash tree node ${siblingOf(cur)} is missing`);
        const mine = lookup(cur)!;
        const up = cur % 2 === 1 ? pairHash(mine, sib) : pairHash(sib, mine);
        const p = parentOf(cur);
        const have = lookup(p);
        if (have) {
          if (!equalBytes(have, up))
            throw new BadHashError(`hash tree node ${p} does not match its children`);
        } else {
          pending.set(p, up);
        }
      }
    }
    for (const [i, h] of pending) this.#trusted.set(i, h);
  }
}

/**
 * Check a whole stored tree (2P-1 hashes, root first) against `root`: every interior node
 * must be the pair hash of its children. Returns the leaf row's first `numLeaves` hashes.
 * `pair` is that hash (a backend's createPairHasher(MERKLE_INTERNAL_PREFIX) is several
 * times faster than the default, noble's, for the thousands of nodes of a large file).
 */
export function checkFullTree(
  nodes: readonly Uint8Array[],
  numLeaves: number,
  root: Uint8Array,
  pair: (left: Uint8Array, right: Uint8Array) => Uint8Array = pairHash,
): Uint8Array[] {
  const size = treeSize(numLeaves);
  if (nodes.length !== size) throw new BadHashError(`hash tree has ${nodes.length} nodes, not ${size}`);
  if (!equalBytes(nodes[0], root)) throw new BadHashError('hash tree root does not match');
  const p = roundupPow2(numLeaves);
  for (let i = p - 2; i >= 0; i--) {
    if (!equalBytes(nodes[i], pair(nodes[2 * i + 1], nodes[2 * i + 2]))) {
      throw new BadHashError(`hash tree node ${i} does not match its children`);
    }
  }
  return nodes.slice(p - 1, p - 1 + numLeaves);
}
