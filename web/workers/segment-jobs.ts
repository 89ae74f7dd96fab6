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
  readonly results: DecodedSegment[];
  /** The buffer the jobs' blocks came in, back for reuse (segment-runner.ts). */
  readonly input: ArrayBuffer;
}

/**
 * Several decode jobs of one message, their blocks views into one transferred buffer: one
 * message each way for all of them (per-segment messages cost the workers' path ~1.6x the
 * CPU per byte of decoding on the calling thread, bench/README).
 */
export async function decodeJobs(
  jobs: readonly SegmentDecodeJob[],
  input: ArrayBuffer,
  backend: CryptoBackend,
  codec: Codec,
  ciphertexts?: BufferPool,
): Promise<DecodeReply> {
  const results = await Promise.all(jobs.map((job) => decodeSegment(job, backend, codec, ciphertexts)));
  const buffers = new Set<ArrayBuffer>([input]);
  for (const r of results) if (r.ok) buffers.add(r.plaintext.buffer as ArrayBuffer);
  return transfer({ results, input }, [...buffers]);
}
