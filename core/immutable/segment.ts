/**
 * The per-segment work of CHK encoding and decoding, as self-contained jobs: bytes and
 * small numbers in, bytes out, no file state. A SegmentRunner runs them here (localRunner)
 * or in workers (see bench/chk-worker.ts); the encoder and decoder keep several in flight.
 */
import type { Codec } from '../codec/index.ts';
import { BufferPool } from '../primitives/buffer-pool.ts';
import { equalBytes } from '../primitives/bytes.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { TAG_BLOCK, TAG_CRYPTTEXT_SEGMENT } from '../primitives/tags.ts';
import { tagPrefix } from '../primitives/tagged-hash.ts';
import type { AesKey } from '../types.ts';

const BLOCK_PREFIX = tagPrefix(TAG_BLOCK);
const SEGMENT_PREFIX = tagPrefix(TAG_CRYPTTEXT_SEGMENT);

export interface SegmentEncodeJob {
  readonly k: number;
  readonly n: number;
  /** null: `plaintext` is already ciphertext (a repairer re-encoding a file it cannot read). */
  readonly key: AesKey | null;
  /** Byte offset of the segment in the file (positions the AES keystream). */
  readonly offset: number;
  readonly plaintext: Uint8Array;
  /**
   * Memory to reuse for the blocks: the buffer under an earlier EncodedSegment's blocks
   * (blocks[0].buffer), no longer used by anyone. Ignored unless it is exactly the size
   * needed. Fresh memory costs more than the hashing in Chromium (page faults on first touch).
   */
  readonly scratch?: Uint8Array;
}

export interface EncodedSegment {
  /**
   * Bytes of the segment's unpadded ciphertext: the first this many of blocks 0..k-1 in
   * order (ciphertextPieces). The ciphertext travels in the blocks alone: a buffer of its
   * own, fresh from the cipher, would be garbage wherever it went (a 1 GiB upload's worth).
   */
  readonly ciphertextLength: number;
  /** Crypttext-segment hash of the unpadded ciphertext. */
  readonly crypttextLeaf: Uint8Array;
  /** All N blocks (views into one buffer per segment). */
  readonly blocks: Uint8Array[];
  readonly blockHashes: Uint8Array[];
}

export interface SegmentDecodeJob {
  readonly k: number;
  readonly n: number;
  /** null: return the verified ciphertext (a repairer with only a verify cap). */
  readonly key: AesKey | null;
  readonly offset: number;
  /** Unpadded segment length. */
  readonly length: number;
  /** k blocks, with their share numbers and the block-tree leaves they must hash to. */
  readonly blocks: Uint8Array[];
  readonly shnums: number[];
  readonly blockLeaves: Uint8Array[];
  /** The crypttext-tree leaf the decoded segment must hash to. */
  readonly crypttextLeaf: Uint8Array;
  /**
   * With `key` null, on a runner that decodes in place (SegmentRunner.decodesInPlace): where
   * to lay the verified ciphertext (exactly `length` bytes), instead of a buffer of its own;
   * the decoder lays several segments side by side this way and decrypts them at once.
   */
  readonly into?: Uint8Array;
}

export type DecodedSegment =
  | { readonly ok: true; readonly plaintext: Uint8Array }
  /** Positions (in job.blocks) of blocks that fail their hash (the segment failed its own). */
  | { readonly ok: false; readonly badBlocks: number[] }
  /** Every block matches its leaf, yet the segment fails the crypttext tree (faulty uploader). */
  | { readonly ok: false; readonly badBlocks: []; readonly crypttextMismatch: true };

export interface SegmentRunner {
  /** How many jobs may usefully run at once. */
  readonly parallelism: number;
  encode(job: SegmentEncodeJob): Promise<EncodedSegment>;
  decode(job: SegmentDecodeJob): Promise<DecodedSegment>;
  /** Take back an encoded segment whose blocks nobody uses any more, to reuse their memory. */
  release?(seg: EncodedSegment): void;
  /**
   * Segments a download should keep in decode at once (default twice `parallelism`): a
   * runner that sends several jobs a message needs more of them waiting.
   */
  readonly decodeDepth?: number;
  /** Segments an upload should keep in encode at once (default twice `parallelism`), likewise. */
  readonly encodeDepth?: number;
  /** Decode jobs run on this thread and honour SegmentDecodeJob.into. */
  readonly decodesInPlace?: boolean;
}

/** Segments to keep in flight on `runner` (its own figure, else twice its parallelism, at least 2). */
export function segmentsInFlight(runner: SegmentRunner, kind: 'encode' | 'decode'): number {
  return (kind === 'encode' ? runner.encodeDepth : runner.decodeDepth) ?? Math.max(2, 2 * runner.parallelism);
}

/**
 * Encrypt, hash, zero-pad to a multiple of k, erasure-code, hash every block. All N blocks
 * live in one buffer, each preceded by the block-hash tag prefix, so they are hashed in
 * place (no copy per block) and cross a worker boundary as one transfer.
 */
export async function encodeSegment(
  job: SegmentEncodeJob,
  backend: CryptoBackend,
  codec: Codec,
): Promise<EncodedSegment> {
  const { k, n } = job;
  const ciphertext = job.key ? await backend.aesCtr(job.key, job.offset, job.plaintext) : job.plaintext;
  const leafPromise = backend.taggedHashes(SEGMENT_PREFIX, [ciphertext]);
  const len = ciphertext.length;
  const b = Math.ceil(len / k);
  const p = BLOCK_PREFIX.length;
  const slot = p + b;
  const size = n * slot;
  const reuse = job.scratch?.byteOffset === 0 && job.scratch.byteLength === job.scratch.buffer.byteLength;
  const all = reuse && job.scratch?.length === size ? job.scratch : new Uint8Array(size);
  const blocks: Uint8Array[] = [];
  const hashed: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    all.set(BLOCK_PREFIX, i * slot);
    if (i < k) {
      const piece = ciphertext.subarray(Math.min(len, i * b), Math.min(len, (i + 1) * b));
      all.set(piece, i * slot + p);
      all.fill(0, i * slot + p + piece.length, (i + 1) * slot); // the tail's zero padding
    }
    blocks.push(all.subarray(i * slot + p, (i + 1) * slot));
    hashed.push(all.subarray(i * slot, (i + 1) * slot));
  }
  codec.encodeInto(k, n, blocks.slice(0, k), blocks.slice(k));
  const [blockHashes, [crypttextLeaf]] = await Promise.all([backend.sha256dMany(hashed), leafPromise]);
  return { ciphertextLength: len, crypttextLeaf, blocks, blockHashes };
}

/** The segment's unpadded ciphertext, in order, as views of its first k blocks. */
export function ciphertextPieces(seg: EncodedSegment, k: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let left = seg.ciphertextLength;
  for (let i = 0; i < k && left > 0; i++) {
    const piece = seg.blocks[i].subarray(0, Math.min(left, seg.blocks[i].length));
    pieces.push(piece);
    left -= piece.length;
  }
  return pieces;
}

/**
 * Decode, verify the segment, decrypt. The segment's crypttext leaf (authenticated by the
 * cap, through the UEB) decides whether its ciphertext is right: every byte of the k blocks
 * goes into it, so the blocks' own hashes are taken only when it fails, to tell which blocks
 * were bad (or that none was: a faulty uploader), and a download hashes its bytes once rather
 * than twice. Except where the blocks hold padding (the last segment, when its length is not
 * a multiple of k): a flipped padding byte would decode to the same ciphertext, so those
 * blocks are checked first, and a damaged share is found there too.
 *
 * The ciphertext is laid out right after the crypttext tag's prefix, so that the segment's
 * hash and the decryption read it where it lies: each would otherwise copy it once more.
 * With `buffers`, that layout is in one of theirs, given back once the decryption has read
 * it (fresh memory per segment costs page faults: in Chromium here more than the AES itself).
 * With `job.into` (and no key) the ciphertext goes there instead, undecrypted: the decoder
 * decrypts several segments laid side by side at once (decoder.ts, decodeTogether).
 */
export async function decodeSegment(
  job: SegmentDecodeJob,
  backend: CryptoBackend,
  codec: Codec,
  buffers?: BufferPool,
): Promise<DecodedSegment> {
  const checkBlocks = async (): Promise<number[]> => {
    const hashes = await backend.taggedHashes(BLOCK_PREFIX, job.blocks);
    return hashes.flatMap((h, i) => (equalBytes(h, job.blockLeaves[i]) ? [] : [i]));
  };
  const padded = job.k * (job.blocks[0]?.length ?? 0) > job.length;
  // The segment fails its hash: which blocks are bad, or none (a faulty uploader).
  const failed = async (): Promise<DecodedSegment> => {
    const badBlocks = padded ? [] : await checkBlocks();
    if (badBlocks.length) return { ok: false, badBlocks };
    return { ok: false, badBlocks: [], crypttextMismatch: true };
  };
  if (padded) {
    const badBlocks = await checkBlocks();
    if (badBlocks.length) return { ok: false, badBlocks };
  }
  // Views into the codec's memory, valid until its next call: copied out at once.
  const pieces = codec.decodeViews(job.k, job.n, job.blocks, job.shnums);
  if (!job.key && job.into?.length === job.length) {
    // The caller's place for it, with no room for the tag in front: hashed from a copy.
    const into = job.into;
    layPieces(pieces, into, 0);
    const [leaf] = await backend.taggedHashes(SEGMENT_PREFIX, [into]);
    return equalBytes(leaf, job.crypttextLeaf) ? { ok: true, plaintext: into } : failed();
  }
  // Without a key the ciphertext is the result: then it must be the caller's own.
  const pool = job.key ? buffers : undefined;
  const p = SEGMENT_PREFIX.length;
  const laid = pool ? pool.take(p + job.length) : new Uint8Array(p + job.length);
  laid.set(SEGMENT_PREFIX);
  layPieces(pieces, laid, p);
  const [leaf] = await backend.sha256dMany([laid]);
  if (!equalBytes(leaf, job.crypttextLeaf)) {
    pool?.give(laid);
    return failed();
  }
  if (!job.key) return { ok: true, plaintext: laid.subarray(p) };
  // With k=3 no segment starts on an AES block: a backend that needs whole blocks reads the
  // prefix's last bytes in front of the ciphertext instead of copying it (crypto-web.ts).
  const plaintext = backend.aesCtr(job.key, job.offset, laid.subarray(p));
  pool?.give(laid); // read by aesCtr before it returned (CryptoBackend's promise)
  return { ok: true, plaintext: await plaintext };
}

/** Lays the decoded pieces in order from `off` to the end of `out` (the padding cut off). */
function layPieces(pieces: readonly Uint8Array[], out: Uint8Array, off: number): void {
  for (const piece of pieces) {
    if (off >= out.length) break;
    const take = Math.min(piece.length, out.length - off);
    out.set(take === piece.length ? piece : piece.subarray(0, take), off);
    off += take;
  }
}

/** Buffers kept for reuse at most (a few segments in flight, and the consumer's). */
export const SPARE_BUFFERS = 16;

/** The memory one thread's decodes lay ciphertext in (decodeSegment's `buffers`). */
export function decodeBuffers(): BufferPool {
  return new BufferPool(8 * 1024 * 1024, { step: 64 * 1024 });
}

/** Run jobs on this thread; released segments' buffers are reused, and decodes' ciphertext buffers. */
export function localRunner(backend: CryptoBackend, codec: Codec): SegmentRunner {
  const spare: Uint8Array[] = [];
  const ciphertexts = decodeBuffers();
  return {
    parallelism: 1,
    encode: (job) => encodeSegment({ ...job, scratch: job.scratch ?? spare.pop() }, backend, codec),
    decode: (job) => decodeSegment(job, backend, codec, ciphertexts),
    release(seg) {
      if (spare.length < SPARE_BUFFERS && seg.blocks.length) spare.push(new Uint8Array(seg.blocks[0].buffer));
    },
    decodesInPlace: true,
  };
}
