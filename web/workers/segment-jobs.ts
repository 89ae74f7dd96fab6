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

/** Several encode jobs of one message: one message each way for all of them. */
export async function encodeJobs(
  jobs: readonly SegmentEncodeJob[],
  backend: CryptoBackend,
  codec: Codec,
): Promise<EncodeReply[]> {
  // One after another: the calls within one segment overlap already, and a segment's fresh
  // ciphertext is garbage by the next, so a worker holds one segment's scratch at a time.
  const replies: EncodeReply[] = [];
  for (const job of jobs) {
    const seg = await encodeSegment(job, backend, codec);
    // Only if no result shares its memory (a backend may encrypt in place).
    const shared = seg.blocks.some((b) => b.buffer === job.plaintext.buffer);
    replies.push({ seg, plaintext: shared ? undefined : job.plaintext });
  }
  const buffers = new Set<ArrayBuffer>();
  for (const r of replies) {
    for (const b of buffersOf(r.seg.blocks)) buffers.add(b);
    if (r.plaintext) buffers.add(r.plaintext.buffer as ArrayBuffer);
  }
  return transfer(replies, [...buffers]);
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
