/**
 * The bulk-crypto interface of the immutable pipeline: SHA-256d over many blocks, AES-128-CTR
 * at a byte offset, and a streaming SHA-256d for whole-file hashes. One implementation per
 * runtime (node:crypto in Node, WebCrypto in browsers), chosen by the `#crypto-backend`
 * import condition in package.json; both give identical bytes (test/unit/primitives.test.ts).
 * Async because WebCrypto is async; the Node one resolves at once. Every method reads its
 * input bytes before it returns, so callers may reuse their buffers as soon as it has.
 */
import type { AesKey } from '../types.ts';
import { InputError } from '../errors.ts';

export interface CryptoBackend {
  readonly name: string;
  /** `SHA256d(input)` for every input (callers lay the tag prefix out in front themselves). */
  sha256dMany(inputs: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** `SHA256d(prefix || block)` for every block (prefix is a tag's netstring, §1.3). */
  taggedHashes(prefix: Uint8Array, blocks: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** AES-128-CTR with the keystream positioned at `byteOffset` (counter 0 at offset 0). */
  aesCtr(key: AesKey, byteOffset: number, data: Uint8Array): Promise<Uint8Array>;
  /**
   * Streaming SHA-256d, seeded with `prefix` (for whole-file tagged hashes). With
   * `totalLength`, the caller promises to feed exactly that many bytes, which lets a backend
   * without a fast streaming hash collect them and hash once (the web one does, when made
   * with `webCryptoBackend({ oneShotHashLimit })`).
   */
  createHasher(prefix: Uint8Array, totalLength?: number): Promise<BulkHasher>;
  /**
   * A synchronous `SHA256d(prefix || netstring(a) || netstring(b))` (taggedPairHash with the
   * tag's netstring as `prefix`), for hash-tree interior nodes: thousands per file, where
   * pure-JS noble costs ~10 µs each in Chromium.
   */
  createPairHasher(prefix: Uint8Array): Promise<PairHasher>;
}

export type PairHasher = (a: Uint8Array, b: Uint8Array) => Uint8Array;

/** A streaming SHA-256d whose digest may take a trip to an async hash. `digest()` once. */
export interface BulkHasher {
  update(data: Uint8Array): void;
  digest(): Promise<Uint8Array>;
}

/** The 16-byte initial counter block for keystream byte `byteOffset` (big-endian block number). */
export function ctrCounterBlock(byteOffset: number): Uint8Array {
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) {
    throw new InputError(`AES-CTR offset must be a non-negative integer, not ${byteOffset}`);
  }
  const block = new Uint8Array(16);
  let n = Math.floor(byteOffset / 16);
  for (let i = 15; i >= 8 && n > 0; i--) {
    block[i] = n % 256;
    n = Math.floor(n / 256);
  }
  return block;
}

export function checkAesKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 16) {
    throw new InputError('AES-128 key must be 16 bytes', 'BAD_KEY');
  }
}
