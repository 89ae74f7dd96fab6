/**
 * The worker side of segment-runner.ts, without the worker: runs one job and marks what to
 * transfer back (comlink `transfer`). Kept apart from segment-worker.ts so that tests can run
 * it across a real structured-clone boundary in Node.
 */
import { transfer } from 'comlink';
import type { Codec } from '../../core/codec/index.ts';
import type { BufferPool } from '../../core/primitives/buffer-pool.ts';
import {
  type DecodedSegment,
  decodeSegment,
  type EncodedSegment,
  encodeSegment,
  type SegmentDecodeJob,
  type SegmentEncodeJob,
} from '../../core/immutable/segment.ts';
import type { CryptoBackend } from '../../core/primitives/crypto-backend.ts';

/** Each distinct ArrayBuffer once (a transfer list may not repeat one). */
export function buffersOf(arrays: readonly Uint8Array[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

export interface EncodeReply {
  readonly seg: EncodedSegment;
  /** The job's plaintext, done with, back for reuse as a read buffer (segment-runner.ts). */
  readonly plaintext?: Uint8Array;
}

export async function encodeJob(
  job: SegmentEncodeJob,
  backend: CryptoBackend,
  codec: Codec,
): Promise<EncodeReply> {
  const seg = await encodeSegment(job, backend, codec);
  const out = buffersOf(seg.blocks);
  // Only if no result shares its memory (a backend may encrypt in place).
  const plaintext = out.includes(job.plaintext.buffer as ArrayBuffer) ? undefined : job.plaintext;
  const reply: EncodeReply = { seg, plaintext };
  return transfer(reply, plaintext ? [...out, plaintext.buffer as ArrayBuffer] : out);
}

export interface DecodeReply {
  readonly result: DecodedSegment;
  /** The buffer the job's blocks came in, back for reuse (segment-runner.ts). */
  readonly input: ArrayBuffer;
}

/**
 * A decode job whose blocks are views into one transferred buffer, `input`. `ciphertexts`
 * (the worker's own) lends the decoded ciphertext's memory, as localRunner does: a fresh
 * segment-sized buffer per job costs page faults.
 */
export async function decodeJob(
  job: SegmentDecodeJob,
  input: ArrayBuffer,
  backend: CryptoBackend,
  codec: Codec,
  ciphertexts?: BufferPool,
): Promise<DecodeReply> {
  const result = await decodeSegment(job, backend, codec, ciphertexts);
  const buffers = [input];
  if (result.ok && result.plaintext.buffer !== input) buffers.push(result.plaintext.buffer as ArrayBuffer);
  return transfer({ result, input }, buffers);
}
