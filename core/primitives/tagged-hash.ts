/**
 * SHA-256d and Tahoe's tagged hashes (reference/tahoe-formats.md §1.3), synchronous, over
 * the runtime's small-input SHA-256 (`#sha256`: OpenSSL in Node, @noble/hashes in browsers).
 * For small inputs: caps, tags, UEB, tree interior nodes. Bulk data (segments, blocks) goes
 * through a CryptoBackend instead, which is much faster.
 */
import { createSha256, sha256, sha256d } from '#sha256';
import { utf8 } from './bytes.ts';
import { netstring } from './netstring.ts';

export { sha256d };

/**
 * The first `length` bytes of a digest, never a view: a truncated hash (a storage index, a
 * key) should not hold the whole digest's buffer, and a copy of a few bytes stays on V8's heap.
 */
function whole(digest: Uint8Array, length: number): Uint8Array {
  return length === digest.length ? digest : digest.slice(0, length);
}

/** `netstring(tag)`: the bytes every tagged hash starts with. */
export function tagPrefix(tag: string | Uint8Array): Uint8Array {
  return netstring(typeof tag === 'string' ? utf8(tag) : tag);
}

/** `SHA256d(netstring(tag) || data)`, truncated to `length` leading bytes. */
export function taggedHash(tag: string | Uint8Array, data: Uint8Array, length = 32): Uint8Array {
  const h = taggedHasher(tag);
  h.update(data);
  return whole(h.digest(), length);
}

const COMMA = new Uint8Array([0x2c]);

// The `N:` before a value of N bytes, made once per length: pair hashes take 16-byte storage
// indexes and 20-byte lease seeds by the thousand (cp -r), and encoding the text each time
// cost a TextEncoder call and a buffer.
const heads: Uint8Array[] = [];
function netstringHead(n: number): Uint8Array {
  if (n >= 1024) return utf8(`${n}:`);
  let h = heads[n];
  if (!h) {
    h = utf8(`${n}:`);
    heads[n] = h;
  }
  return h;
}

/**
 * Lays out `prefix || netstring(a) || netstring(b)`, the input of a hash-tree pair hash, in
 * one buffer reused from call to call (one hash update over it is far cheaper than seven
 * small ones). The returned view is valid until the next call.
 */
export function pairInputWriter(prefix: Uint8Array): (a: Uint8Array, b: Uint8Array) => Uint8Array {
  let buf = new Uint8Array(0);
  return (a, b) => {
    const headA = netstringHead(a.length);
    const headB = netstringHead(b.length);
    const len = prefix.length + headA.length + a.length + headB.length + b.length + 2;
    if (buf.length < len) buf = new Uint8Array(len);
    let at = 0;
    for (const part of [prefix, headA, a, COMMA, headB, b, COMMA]) {
      buf.set(part, at);
      at += part.length;
    }
    return buf.subarray(0, len);
  };
}

// One writer per tag: hash trees take thousands of pair hashes with one tag, and building
// the prefix (and a streaming hasher) each time cost most of a pair hash's ~20 µs.
const pairWriters = new Map<string, (a: Uint8Array, b: Uint8Array) => Uint8Array>();

/** `SHA256d(netstring(tag) || netstring(a) || netstring(b))`, truncated to `length`. */
export function taggedPairHash(tag: string, a: Uint8Array, b: Uint8Array, length = 32): Uint8Array {
  let lay = pairWriters.get(tag);
  if (!lay) {
    lay = pairInputWriter(tagPrefix(tag));
    pairWriters.set(tag, lay);
  }
  return whole(sha256d(lay(a, b)), length);
}

/** A streaming SHA-256d. `digest()` may be called once. */
export interface StreamHasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** Streaming `taggedHash`: feed the value in pieces, get the 32-byte SHA-256d. */
export function taggedHasher(tag: string | Uint8Array): StreamHasher {
  return prefixedHasher(tagPrefix(tag));
}

/** Streaming SHA-256d whose input starts with the raw bytes `prefix`. */
export function prefixedHasher(prefix: Uint8Array): StreamHasher {
  const inner = createSha256();
  inner.update(prefix);
  return {
    update(data) {
      inner.update(data);
    },
    digest() {
      return sha256(inner.digest());
    },
  };
}
