/**
 * A SegmentRunner over a pool of segment workers (segment-worker.ts): the per-segment CHK
 * work of an upload or download runs there, in parallel, while the grid worker does the I/O.
 *
 * Memory is reused rather than made fresh per segment (fresh ArrayBuffers cost page faults
 * in Chromium and pile up as garbage between collections):
 *  - released segments' block buffers go back to a worker with a later job, to be filled again;
 *  - each job's plaintext buffer comes back once encrypted, and `readBuffer(length)` hands
 *    it out again as the target of the next File read;
 *  - the blocks of a decode message's jobs are copied into one buffer that travels to the
 *    worker and back.
 *
 * Jobs travel several to a message once the workers are busy (pooledRunner): a message a
 * segment cost the workers' decode ~1.6x the CPU per byte of one thread decoding alone
 * (bench/README, 2026-12-07 15:14); with a segment a message the workers' encode ran 10-15%
 * slower and the tab's 1 GiB upload ~8% (bench/README, 2026-12-07 17:50). Encodes go two to a
 * message, not four: each segment in flight holds its plaintext and its blocks (~0.55 MiB),
 * and four raised the tab's peak to the memory goal's edge. A waiting job's buffers are read
 * (copied or transferred) only when its message goes: callers leave them alone until the job
 * settles, as the encoder and decoder do.
 *
 * A plaintext is transferred when it owns its whole buffer (copied otherwise, so a caller's
 * larger buffer is never detached); blocks are always copied, because the decoder tries
 * again with the good ones when another block of the segment fails its hash.
 */
import { type Remote, transfer } from 'comlink';
import {
  type DecodedSegment,
  type EncodedSegment,
  type SegmentDecodeJob,
  type SegmentEncodeJob,
  type SegmentRunner,
  SPARE_BUFFERS,
} from '../../core/immutable/segment.ts';
import type { DecodeReply, EncodeReply } from './segment-jobs.ts';

/** What a segment worker offers (segment-worker.ts). */
export interface SegmentWorkerLike {
  encode(jobs: SegmentEncodeJob[]): Promise<EncodeReply[]>;
  decode(jobs: SegmentDecodeJob[], input: ArrayBuffer): Promise<DecodeReply>;
}

/** Runs a task on one of `size` workers (WorkerPool). */
export interface SegmentWorkers {
  readonly size: number;
  /** `weight`: the jobs the task carries (WorkerPool counts them towards a worker's retirement). */
  run<R>(task: (remote: Remote<SegmentWorkerLike>) => Promise<R>, opts?: { weight?: number }): Promise<R>;
}

export interface PooledRunner extends SegmentRunner {
  /** A buffer of `length` bytes to read plaintext into: a returned one when it fits. */
  readBuffer(length: number): Uint8Array;
}

function ownsBuffer(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}
const owned = (a: Uint8Array): Uint8Array => (ownsBuffer(a) ? a : a.slice());

/** Messages a worker has at most in flight: the next is ready when one ends. */
const MESSAGES_PER_WORKER = 2;
/** Decode jobs one message carries at most. */
const JOBS_PER_MESSAGE = 4;
/** Encode jobs one message carries at most. */
const ENCODE_JOBS_PER_MESSAGE = 2;

export interface PooledRunnerOptions {
  /** Messages a worker has at most in flight (default MESSAGES_PER_WORKER). */
  readonly messagesPerWorker?: number;
  /** Decode jobs one message carries at most (default JOBS_PER_MESSAGE). */
  readonly jobsPerMessage?: number;
  /** Encode jobs one message carries at most (default ENCODE_JOBS_PER_MESSAGE). */
  readonly encodeJobsPerMessage?: number;
}

export function pooledRunner(workers: SegmentWorkers, opts: PooledRunnerOptions = {}): PooledRunner {
  const messagesPerWorker = opts.messagesPerWorker ?? MESSAGES_PER_WORKER;
  const jobsPerMessage = opts.jobsPerMessage ?? JOBS_PER_MESSAGE;
  const encodeJobsPerMessage = opts.encodeJobsPerMessage ?? ENCODE_JOBS_PER_MESSAGE;
  const spareBlocks: Uint8Array[] = [];
  const spareReads: Uint8Array[] = [];
  const spareInputs: ArrayBuffer[] = [];
  const keep = (list: Uint8Array[], a: Uint8Array | undefined) => {
    if (a && list.length < SPARE_BUFFERS && ownsBuffer(a)) list.push(a);
  };
  // Jobs wait here while every worker has messagesPerWorker messages in flight, and go
  // together in the next message (all of one kind, at most jobsPerMessage decodes or
  // encodeJobsPerMessage encodes): one message each way for several segments. A job that
  // finds room goes at once, alone, so nothing waits for company.
  type Waiting<J, R> = { job: J; resolve(r: R): void; reject(e: unknown): void };
  const decodes: Waiting<SegmentDecodeJob, DecodedSegment>[] = [];
  const encodes: Waiting<SegmentEncodeJob, EncodedSegment>[] = [];
  let messages = 0;
  const pump = () => {
    while (messages < workers.size * messagesPerWorker) {
      // Encodes first (an upload takes its segments in order); a pool seldom has both waiting.
      const send = encodes.length > 0 ? sendEncodes(encodes.splice(0, encodeJobsPerMessage)) : undefined;
      const sent = send ?? (decodes.length > 0 ? sendDecodes(decodes.splice(0, jobsPerMessage)) : undefined);
      if (!sent) return;
      messages++;
      void sent.finally(() => {
        messages--;
        pump();
      });
    }
  };
  // Settles each waiting job with its own result, or all of them with the message's failure.
  const settle = async <J, R>(batch: Waiting<J, R>[], results: () => Promise<R[]>): Promise<void> => {
    try {
      const out = await results();
      for (const [j, { resolve }] of batch.entries()) resolve(out[j]);
    } catch (err) {
      for (const { reject } of batch) reject(err);
    }
  };
  const sendEncodes = (batch: typeof encodes): Promise<void> =>
    settle(batch, async () => {
      const buffers: ArrayBuffer[] = [];
      const jobs = batch.map(({ job }) => {
        const plaintext = owned(job.plaintext);
        const scratch = job.scratch ?? spareBlocks.pop();
        buffers.push(plaintext.buffer as ArrayBuffer);
        if (scratch) buffers.push(scratch.buffer as ArrayBuffer);
        return { ...job, plaintext, scratch };
      });
      // (A transfer list may not name a buffer twice.)
      const replies = await workers.run((w) => w.encode(transfer(jobs, [...new Set(buffers)])), {
        weight: jobs.length,
      });
      for (const r of replies) keep(spareReads, r.plaintext);
      return replies.map((r) => r.seg);
    });
  const sendDecodes = (batch: typeof decodes): Promise<void> =>
    settle(batch, async () => {
      const total = batch.reduce((n, { job }) => n + job.blocks.reduce((m, b) => m + b.length, 0), 0);
      // Any spare that holds them: batches differ in size, and the views say where each block is.
      const i = spareInputs.findIndex((b) => b.byteLength >= total);
      const input = i >= 0 ? spareInputs.splice(i, 1)[0] : new ArrayBuffer(total);
      let at = 0;
      const jobs = batch.map(({ job }) => ({
        ...job,
        blocks: job.blocks.map((b) => {
          const view = new Uint8Array(input, at, b.length);
          view.set(b);
          at += b.length;
          return view;
        }),
      }));
      const reply = await workers.run((w) => w.decode(transfer(jobs, [input]), input), {
        weight: jobs.length,
      });
      if (spareInputs.length < SPARE_BUFFERS) spareInputs.push(reply.input);
      return reply.results;
    });
  // What the messages in flight carry, and a message's worth waiting: a message that ends
  // is followed by a full one (with only the first, a download's refills went 1, 3, 1, 3).
  const depthFor = (jobs: number) => jobs * (workers.size * messagesPerWorker + 1);
  return {
    parallelism: workers.size,
    decodeDepth: depthFor(jobsPerMessage),
    encodeDepth: depthFor(encodeJobsPerMessage),
    encode(job): Promise<EncodedSegment> {
      return new Promise((resolve, reject) => {
        encodes.push({ job, resolve, reject });
        pump();
      });
    },
    release(seg) {
      if (seg.blocks.length) keep(spareBlocks, new Uint8Array(seg.blocks[0].buffer));
    },
    decode(job): Promise<DecodedSegment> {
      return new Promise((resolve, reject) => {
        decodes.push({ job, resolve, reject });
        pump();
      });
    },
    readBuffer(length) {
      const i = spareReads.findIndex((b) => b.length === length);
      return i >= 0 ? spareReads.splice(i, 1)[0] : new Uint8Array(length);
    },
  };
}
