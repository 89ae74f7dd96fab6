/**
 * CryptoBackend over WebCrypto (browsers, workers). WebCrypto has no streaming digest, so
 * `createHasher` uses hash-wasm's SHA-256 (WebAssembly, ~0.5 GB/s; pure-JS noble manages
 * under 0.1 GB/s in Chromium, reference/performance.md §4).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { createSHA256 } from 'hash-wasm';
import type { AesKey } from '../types.ts';
import { equalBytes } from './bytes.ts';
import { type CryptoBackend, checkAesKey, ctrCounterBlock } from './crypto-backend.ts';
import type { StreamHasher } from './tagged-hash.ts';

const subtle = globalThis.crypto.subtle;

// importKey costs far more than a 128 KiB encryption; a file uses one key throughout.
let cachedKeyBytes: Uint8Array<ArrayBuffer> | undefined;
let cachedKey: Promise<CryptoKey> | undefined;
function importAesKey(key: AesKey): Promise<CryptoKey> {
  if (!cachedKey || !cachedKeyBytes || !equalBytes(cachedKeyBytes, key)) {
    cachedKeyBytes = new Uint8Array(key);
    cachedKey = subtle.importKey('raw', cachedKeyBytes, 'AES-CTR', false, ['encrypt']);
  }
  return cachedKey;
}

// The outer hash covers 32 bytes: noble does it synchronously in about a microsecond, where
// a second WebCrypto call costs an async round trip per block.
async function sha256dView(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return sha256(new Uint8Array(await subtle.digest('SHA-256', data)));
}

export const webCrypto: CryptoBackend = {
  name: 'webcrypto',
  async sha256dMany(inputs) {
    return Promise.all(
      inputs.map((b) =>
        sha256dView(b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : b.slice()),
      ),
    );
  },
  async taggedHashes(prefix, blocks) {
    // One buffer holds every prefix||block so digest() gets views, not a fresh copy each.
    let total = 0;
    for (const b of blocks) total += prefix.length + b.length;
    const all = new Uint8Array(total);
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
  async aesCtr(key, byteOffset, data) {
    checkAesKey(key);
    const skip = byteOffset % 16;
    let input: Uint8Array<ArrayBuffer>;
    if (skip) {
      input = new Uint8Array(skip + data.length);
      input.set(data, skip);
    } else {
      input = data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : data.slice();
    }
    const counter = ctrCounterBlock(byteOffset) as Uint8Array<ArrayBuffer>;
    const out = await subtle.encrypt(
      { name: 'AES-CTR', counter, length: 128 },
      await importAesKey(key),
      input,
    );
    return new Uint8Array(out, skip);
  },
  async createHasher(prefix): Promise<StreamHasher> {
    const inner = await createSHA256();
    inner.init();
    inner.update(prefix);
    return {
      update(data) {
        inner.update(data);
      },
      digest() {
        return sha256(inner.digest('binary'));
      },
    };
  },
};

export default webCrypto;
