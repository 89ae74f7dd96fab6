/**
 * CryptoBackend over WebCrypto (browsers, workers). WebCrypto has no streaming digest, so
 * `createHasher` streams through hash-wasm's SHA-256 (WebAssembly, ~0.43 GB/s; pure-JS
 * noble manages under 0.1 GB/s in Chromium, reference/performance.md §4). The whole-file
 * hash is sequential and took a third of Chromium's encode time, so a backend made with
 * `webCryptoBackend({ oneShotHashLimit })` instead collects inputs up to that size (their
 * length given) and digests them in one WebCrypto call (~1.7 GB/s): faster, but memory
 * grows with the file up to the limit. The default `webCrypto` streams (memory stays flat;
 * the web upload is bound by the network, where the faster hash buys nothing).
 */
import { ctr } from '@noble/ciphers/aes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { createSHA256 } from 'hash-wasm';
import type { AesKey } from '../types.ts';
import { equalBytes } from './bytes.ts';
import { InputError } from '../errors.ts';
import {
  type BulkHasher,
  type CryptoBackend,
  checkAesKey,
  ctrCounterBlock,
  type PairHasher,
} from './crypto-backend.ts';
import { pairInputWriter } from './tagged-hash.ts';

const subtle = globalThis.crypto.subtle;

/**
 * AES-128-CTR at a byte offset, synchronously, for the few bytes formats encrypt in place
 * (a directory child's write cap, a mutable file's private key); WebCrypto has no sync form.
 */
export function aesCtrSync(key: AesKey, byteOffset: number, data: Uint8Array): Uint8Array {
  checkAesKey(key);
  const skip = byteOffset % 16;
  const input = skip ? new Uint8Array(skip + data.length) : data;
  if (skip) input.set(data, skip);
  return ctr(key, ctrCounterBlock(byteOffset)).encrypt(input).subarray(skip);
}

// importKey costs far more than a 128 KiB encryption; a file uses one key throughout. The
// resolved key is kept too, so that aesCtr can call encrypt() before its first await.
let cachedKeyBytes: Uint8Array<ArrayBuffer> | undefined;
let cachedKey: Promise<CryptoKey> | undefined;
let readyKey: CryptoKey | undefined;
function importAesKey(key: AesKey): Promise<CryptoKey> {
  if (!cachedKey || !cachedKeyBytes || !equalBytes(cachedKeyBytes, key)) {
    const bytes = new Uint8Array(key);
    cachedKeyBytes = bytes;
    readyKey = undefined;
    cachedKey = subtle.importKey('raw', bytes, 'AES-CTR', false, ['encrypt']);
    void cachedKey.then(
      (k) => {
        if (cachedKeyBytes === bytes) readyKey = k;
      },
      () => {},
    );
  }
  return cachedKey;
}

// WebCrypto copies its input when called (WebCrypto spec: "get a copy of the bytes held by
// the data parameter"), so one scratch buffer per thread can lay out every prefix||block:
// touching fresh ArrayBuffer memory each segment cost more than the hashing (page faults).
let scratch = new Uint8Array(0);
function scratchOf(size: number): Uint8Array<ArrayBuffer> {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, 2 * scratch.length));
  return scratch.subarray(0, size);
}

// The outer hash covers 32 bytes: noble does it synchronously in about a microsecond, where
// a second WebCrypto call costs an async round trip per block.
async function sha256dView(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return sha256(new Uint8Array(await subtle.digest('SHA-256', data)));
}

function collectingHasher(prefix: Uint8Array, totalLength: number): BulkHasher {
  const all = new Uint8Array(prefix.length + totalLength);
  all.set(prefix);
  let filled = prefix.length;
  return {
    update(data) {
      if (filled + data.length > all.length) {
        throw new InputError(`hasher fed more than the ${totalLength} bytes it was promised`);
      }
      all.set(data, filled);
      filled += data.length;
    },
    digest() {
      return sha256dView(all.subarray(0, filled));
    },
  };
}

export interface WebCryptoOptions {
  /**
   * Whole-file hashes whose length is given and, with their prefix, at most this many bytes
   * are collected and hashed in one WebCrypto call (default 0: always streamed).
   */
  readonly oneShotHashLimit?: number;
}

export function webCryptoBackend(opts: WebCryptoOptions = {}): CryptoBackend {
  const limit = opts.oneShotHashLimit ?? 0;
  return {
    name: 'webcrypto',
    async sha256dMany(inputs) {
      return Promise.all(
        inputs.map((b) =>
          sha256dView(b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : b.slice()),
        ),
      );
    },
    async taggedHashes(prefix, blocks) {
      // Every prefix||block laid out in the scratch buffer; each digest() copies its view at once.
      let total = 0;
      for (const b of blocks) total += prefix.length + b.length;
      const all = scratchOf(total);
      const views: Uint8Array<ArrayBuffer>[] = [];
      let off = 0;
      for (const b of blocks) {
        all.set(prefix, off);
        all.set(b, off + prefix.length);
        views.push(all.subarray(off, off + prefix.length + b.length));
        off += prefix.length + b.length;
      }
      return Promise.all(views.map(sha256dView));
    },
    aesCtr(key, byteOffset, data) {
      try {
        checkAesKey(key);
        ctrCounterBlock(byteOffset);
      } catch (err) {
        return Promise.reject(err); // as the async methods do
      }
      const skip = byteOffset % 16;
      let input: Uint8Array<ArrayBuffer>;
      if (skip && data.buffer instanceof ArrayBuffer && data.byteOffset >= skip) {
        // WebCrypto counts whole blocks from the counter: whatever bytes stand before `data`
        // in its buffer fill the block's start (read, never written; their output is cut
        // off), which spares a copy of the data (decodeSegment lays a tag there).
        input = new Uint8Array(data.buffer, data.byteOffset - skip, skip + data.length);
      } else if (skip) {
        input = scratchOf(skip + data.length);
        input.fill(0, 0, skip);
        input.set(data, skip);
      } else {
        input = data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : data.slice();
      }
      const algorithm = {
        name: 'AES-CTR',
        counter: ctrCounterBlock(byteOffset) as Uint8Array<ArrayBuffer>,
        length: 128,
      };
      const cut = (out: ArrayBuffer) => new Uint8Array(out, skip);
      const k = importAesKey(key);
      // Called before any await, so `data` (and the scratch) are read now, as the interface says.
      if (readyKey) return subtle.encrypt(algorithm, readyKey, input).then(cut);
      const copy = input.slice();
      return k.then((ck) => subtle.encrypt(algorithm, ck, copy)).then(cut);
    },
    async createPairHasher(prefix): Promise<PairHasher> {
      // hash-wasm is synchronous once loaded, and far cheaper per call than noble here.
      const h = await createSHA256();
      const lay = pairInputWriter(prefix);
      return (a, b) => {
        h.init();
        h.update(lay(a, b));
        const inner = h.digest('binary');
        h.init();
        h.update(inner);
        return h.digest('binary');
      };
    },
    async createHasher(prefix, totalLength): Promise<BulkHasher> {
      if (totalLength !== undefined && prefix.length + totalLength <= limit) {
        return collectingHasher(prefix, totalLength);
      }
      const inner = await createSHA256();
      inner.init();
      inner.update(prefix);
      return {
        update(data) {
          inner.update(data);
        },
        async digest() {
          return sha256(inner.digest('binary'));
        },
      };
    },
  };
}

/** Streams whole-file hashes (memory stays flat whatever the file size). */
export const webCrypto: CryptoBackend = webCryptoBackend();

export default webCrypto;
