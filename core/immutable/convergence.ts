/**
 * Convergent encryption keys (reference/tahoe-formats.md §2.3): the same file, secret and
 * parameters always give the same key, hence the same cap. Costs one hashing pass.
 */
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { concatBytes, utf8 } from '../primitives/bytes.ts';
import { netstring } from '../primitives/netstring.ts';
import { TAG_CONVERGENT_KEY_PREFIX } from '../primitives/tags.ts';
import { tagPrefix } from '../primitives/tagged-hash.ts';
import { type AesKey, asAesKey } from '../types.ts';
import { adjustedSegmentSize, type ChkParams, checkParams } from './params.ts';
import type { PlaintextSource } from './source.ts';

/** The bytes hashed before the plaintext: netstring(TAG+ || netstring(secret) || netstring("k,N,segsize")). */
export function convergentKeyPrefix(
  secret: Uint8Array,
  k: number,
  n: number,
  segmentSize: number,
): Uint8Array {
  const params = netstring(utf8(`${k},${n},${segmentSize}`));
  return tagPrefix(concatBytes(utf8(TAG_CONVERGENT_KEY_PREFIX), netstring(secret), params));
}

/** What the key's pass reads at a time (any size hashes the same bytes). */
const KEY_READ_BYTES = 1024 * 1024;

/** Read the whole source once and derive its convergent key. */
export async function convergentKey(
  source: PlaintextSource,
  params: ChkParams,
  secret: Uint8Array,
  backend: CryptoBackend,
): Promise<AesKey> {
  checkParams(params);
  // A LIT file needs no key; it gets one anyway, computed the same way, so callers need no case.
  const segmentSize = adjustedSegmentSize(source.size, params.k, params.maxSegmentSize);
  const prefix = convergentKeyPrefix(secret, params.k, params.n, segmentSize);
  const hasher = await backend.createHasher(prefix, source.size);
  // One buffer for the whole pass: a fresh one per read is garbage the size of the file.
  // (A file read in one go needs none: the source's own buffer is the only one.)
  const scratch = source.size > KEY_READ_BYTES ? new Uint8Array(KEY_READ_BYTES) : undefined;
  for (let off = 0; off < source.size; off += KEY_READ_BYTES) {
    hasher.update(await source.read(off, Math.min(KEY_READ_BYTES, source.size - off), scratch));
  }
  return asAesKey((await hasher.digest()).slice(0, 16));
}

/** A fresh random key: no convergence, a single encoding pass. */
export function randomKey(): AesKey {
  return asAesKey(globalThis.crypto.getRandomValues(new Uint8Array(16)));
}
