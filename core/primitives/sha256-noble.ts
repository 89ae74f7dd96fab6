/**
 * SHA-256 of small inputs in pure JavaScript (@noble/hashes), for browsers; Node takes
 * sha256-node.ts (OpenSSL) through the `#sha256` import condition. Bulk data goes through a
 * CryptoBackend instead.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

/** A streaming SHA-256. `digest()` may be called once. */
export interface Sha256Stream {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function sha256d(data: Uint8Array): Uint8Array {
  return nobleSha256(nobleSha256(data));
}

export function createSha256(): Sha256Stream {
  return nobleSha256.create();
}
