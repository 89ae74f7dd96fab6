/** CryptoBackend over node:crypto (OpenSSL: SHA-NI, AES-NI), synchronous under the Promise. */
import { type Cipher, createCipheriv, createHash } from 'node:crypto';
import type { AesKey } from '../types.ts';
import { equalBytes } from './bytes.ts';
import {
  type BulkHasher,
  type CryptoBackend,
  checkAesKey,
  ctrCounterBlock,
  type PairHasher,
} from './crypto-backend.ts';
import { sha256, sha256d } from './sha256-node.ts';
import { pairInputWriter } from './tagged-hash.ts';

function sha256dPrefixed(prefix: Uint8Array, data: Uint8Array): Uint8Array {
  return sha256(createHash('sha256').update(prefix).update(data).digest());
}

const toU8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

/**
 * The cipher of the last call, to go on with when the next call takes the same key at the
 * byte where it stopped, as a transfer's segments do one after another: setting up a cipher
 * per 128 KiB segment cost 140 ms of CPU per 256 MiB more than one cipher for them all
 * (2,048 segments, median of 8 alternating rounds in a scratch script: 296 against 158 ms;
 * a CLI get of 256 MiB, median of 10: 2.74 against 2.85 CPU s). CTR is a stream: the
 * keystream at a byte depends only on key and offset, so going on is the same as starting
 * there. The last key stays here until another call replaces it.
 */
let running: { key: Uint8Array; next: number; cipher: Cipher } | undefined;

/** AES-128-CTR at a byte offset, synchronously (crypto-web.ts has the same for browsers). */
export function aesCtrSync(key: AesKey, byteOffset: number, data: Uint8Array): Uint8Array {
  checkAesKey(key);
  const r = running;
  let cipher: Cipher;
  if (r && r.next === byteOffset && equalBytes(r.key, key)) cipher = r.cipher;
  else {
    cipher = createCipheriv('aes-128-ctr', key, ctrCounterBlock(byteOffset));
    const skip = byteOffset % 16;
    if (skip) cipher.update(new Uint8Array(skip));
  }
  const out = cipher.update(data);
  running = {
    key: r?.cipher === cipher ? r.key : Uint8Array.from(key),
    next: byteOffset + data.length,
    cipher,
  };
  return toU8(out);
}

export const nodeCrypto: CryptoBackend = {
  name: 'node:crypto',
  async sha256dMany(inputs) {
    return inputs.map(sha256d);
  },
  async taggedHashes(prefix, blocks) {
    return blocks.map((b) => sha256dPrefixed(prefix, b));
  },
  async aesCtr(key, byteOffset, data) {
    return aesCtrSync(key, byteOffset, data);
  },
  async createPairHasher(prefix): Promise<PairHasher> {
    const lay = pairInputWriter(prefix);
    return (a, b) => sha256d(lay(a, b));
  },
  async createHasher(prefix): Promise<BulkHasher> {
    const inner = createHash('sha256').update(prefix);
    return {
      update(data) {
        inner.update(data);
      },
      async digest() {
        return sha256(inner.digest());
      },
    };
  },
};

export default nodeCrypto;
