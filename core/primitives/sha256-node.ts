/**
 * SHA-256 of small inputs for Node, over OpenSSL: the one-shot `crypto.hash` (Node 20.12+)
 * takes ~1.9 µs for a SHA-256d of 100 bytes where noble's JavaScript takes 3.4-3.8 and a
 * `createHash` pair 2.9, and a tree of small files needs dozens a file (lease secrets, server
 * permutation, hash trees, caps). Browsers take sha256-noble.ts through the `#sha256` import
 * condition; both give the same bytes (test/unit/primitives.test.ts).
 */
import * as nodeCrypto from 'node:crypto';
import type { Sha256Stream } from './sha256-noble.ts';

const { createHash } = nodeCrypto;
// Absent before Node 20.12: createHash gives the same bytes, a little slower.
const oneShot = (nodeCrypto as { hash?: typeof nodeCrypto.hash }).hash;

const digestOf: (data: Uint8Array) => Buffer = oneShot
  ? (data) => oneShot('sha256', data, 'buffer')
  : (data) => createHash('sha256').update(data).digest();

// Copied into a plain Uint8Array: its slice() copies as callers expect (a Buffer's is a
// view), and 32 bytes made this way live on V8's heap, where kept digests (trees, listings)
// cost less than a backing store each (200,000 kept: 79 against 102 MB RSS), at no cost in
// time (the Buffer dies young).
const toU8 = (b: Buffer): Uint8Array => new Uint8Array(b);

export function sha256(data: Uint8Array): Uint8Array {
  return toU8(digestOf(data));
}

export function sha256d(data: Uint8Array): Uint8Array {
  return toU8(digestOf(digestOf(data)));
}

export function createSha256(): Sha256Stream {
  const h = createHash('sha256');
  return {
    update(data) {
      h.update(data);
    },
    digest() {
      return toU8(h.digest());
    },
  };
}
