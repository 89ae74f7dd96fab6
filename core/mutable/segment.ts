/**
 * One segment of a mutable file, encoded or decoded (reference/tahoe-formats.md §4.4):
 * AES-128-CTR under the segment's data key (derived from its salt and the read key), counter
 * at 0; cut into k pieces of div_ceil(len, k) bytes, zero-padded; zfec to N blocks. What a
 * share stores for the segment is `salt || block` (MDMF) or the block alone (SDMF, whose one
 * salt sits in the prefix), and the block-hash leaf is the tagged hash of exactly those bytes.
 * Self-contained jobs, bytes in and bytes out, so they can run on a worker later.
 */
import type { Codec } from '../codec/index.ts';
import { InputError } from '../errors.ts';
import { concatBytes } from '../primitives/bytes.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { TAG_BLOCK } from '../primitives/tags.ts';
import { tagPrefix } from '../primitives/tagged-hash.ts';
import { dataKeyOf, type ReadKey } from './keys.ts';
import { type MutableFormat, SALT_BYTES } from './prefix.ts';

export const BLOCK_PREFIX = tagPrefix(TAG_BLOCK);

export interface MutableSegmentEncodeJob {
  readonly format: MutableFormat;
  readonly k: number;
  readonly n: number;
  readonly salt: Uint8Array;
  readonly readKey: ReadKey;
  /** The segment's plaintext (1 byte at least). */
  readonly plaintext: Uint8Array;
}

export interface EncodedMutableSegment {
  /** Per share, the bytes its data area holds for this segment: MDMF salt || block, SDMF block. */
  readonly stored: Uint8Array[];
  /** Per share, the block without the salt (a view into `stored`). */
  readonly blocks: Uint8Array[];
  /** Per share, the block-hash-tree leaf: tagged hash of `stored`. */
  readonly leaves: Uint8Array[];
}

/** Encrypt, pad, erasure-code and hash one segment. All N slots share one buffer. */
export async function encodeMutableSegment(
  job: MutableSegmentEncodeJob,
  backend: CryptoBackend,
  codec: Codec,
): Promise<EncodedMutableSegment> {
  const { k, n, salt, plaintext } = job;
  if (salt.length !== SALT_BYTES) throw new InputError('a mutable segment salt is 16 bytes');
  if (plaintext.length === 0) throw new InputError('a mutable segment holds at least one byte');
  const head = job.format === 'mdmf' ? SALT_BYTES : 0;
  const slot = head + Math.ceil(plaintext.length / k);
  const all = new Uint8Array(n * slot);
  const stored = Array.from({ length: n }, (_, i) => all.subarray(i * slot, (i + 1) * slot));
  await encodeMutableSegmentInto(job, backend, codec, stored);
  const blocks = stored.map((x) => x.subarray(head));
  const leaves = await backend.taggedHashes(BLOCK_PREFIX, stored);
  return { stored, blocks, leaves };
}

/**
 * Encrypt, pad and erasure-code one segment into `stored`: N views of exactly the bytes each
 * share's data area holds for it (MDMF salt || block, SDMF block). Every byte of every view
 * is written, so they may be reused buffers holding anything.
 */
export async function encodeMutableSegmentInto(
  job: MutableSegmentEncodeJob,
  backend: CryptoBackend,
  codec: Codec,
  stored: readonly Uint8Array[],
): Promise<void> {
  const { k, n, salt, plaintext } = job;
  if (salt.length !== SALT_BYTES) throw new InputError('a mutable segment salt is 16 bytes');
  if (plaintext.length === 0) throw new InputError('a mutable segment holds at least one byte');
  const b = Math.ceil(plaintext.length / k);
  const head = job.format === 'mdmf' ? SALT_BYTES : 0;
  if (stored.length !== n || stored.some((x) => x.length !== head + b)) {
    throw new InputError(`a segment of ${plaintext.length} bytes needs ${n} slots of ${head + b} bytes`);
  }
  const ciphertext = await backend.aesCtr(dataKeyOf(salt, job.readKey), 0, plaintext);
  const blocks = stored.map((x) => x.subarray(head));
  for (let i = 0; i < n; i++) if (head) stored[i].set(salt);
  for (let i = 0; i < k; i++) {
    const piece = ciphertext.subarray(
      Math.min(ciphertext.length, i * b),
      Math.min(ciphertext.length, (i + 1) * b),
    );
    blocks[i].set(piece);
    blocks[i].fill(0, piece.length); // the last pieces' padding
  }
  codec.encodeInto(k, n, blocks.slice(0, k), blocks.slice(k));
}

/** The block-hash-tree leaf of a segment as a share stores it. */
export async function segmentLeaf(
  format: MutableFormat,
  salt: Uint8Array,
  block: Uint8Array,
  backend: CryptoBackend,
): Promise<Uint8Array> {
  let hashed = block;
  if (format === 'mdmf') {
    // Read from a share, salt and block lie side by side: hash them where they are.
    hashed =
      salt.buffer === block.buffer && salt.byteOffset + SALT_BYTES === block.byteOffset
        ? new Uint8Array(salt.buffer, salt.byteOffset, SALT_BYTES + block.length)
        : concatBytes(salt, block);
  }
  const [leaf] = await backend.taggedHashes(BLOCK_PREFIX, [hashed]);
  return leaf;
}

export interface MutableSegmentDecodeJob {
  readonly k: number;
  readonly n: number;
  readonly salt: Uint8Array;
  readonly readKey: ReadKey;
  /** Plaintext length of the segment (padding is cut off). */
  readonly length: number;
  /** k verified blocks of distinct shares, and their share numbers. */
  readonly blocks: readonly Uint8Array[];
  readonly shnums: readonly number[];
}

// Ciphertext is laid out here before it is decrypted: a backend reads its input before
// aesCtr returns, and fresh buffers per segment cost more than the copying (page faults).
let scratch = new Uint8Array(0);

/** zfec-decode k verified blocks, strip the padding, decrypt. */
export async function decodeMutableSegment(
  job: MutableSegmentDecodeJob,
  backend: CryptoBackend,
  codec: Codec,
): Promise<Uint8Array> {
  // Views into the codec's memory, valid until its next call: copied out before any await.
  const pieces = codec.decodeViews(job.k, job.n, [...job.blocks], [...job.shnums]);
  if (scratch.length < job.length) scratch = new Uint8Array(Math.max(job.length, 2 * scratch.length));
  const ciphertext = scratch.subarray(0, job.length);
  let at = 0;
  for (const p of pieces) {
    if (at >= job.length) break;
    const take = Math.min(p.length, job.length - at);
    ciphertext.set(p.subarray(0, take), at);
    at += take;
  }
  if (at < job.length) throw new InputError(`blocks hold ${at} bytes, the segment has ${job.length}`);
  return backend.aesCtr(dataKeyOf(job.salt, job.readKey), 0, ciphertext);
}
