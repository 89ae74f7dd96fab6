/**
 * A SegmentRunner over a pool of segment workers (segment-worker.ts): the per-segment CHK
 * work of an upload or download runs there, in parallel, while the grid worker does the I/O.
 *
 * Memory is reused rather than made fresh per segment (fresh ArrayBuffers cost page faults
 * in Chromium and pile up as garbage between collections):
 *  - released segments' block buffers go back to a worker with a later job, to be filled again;
 *  - each job's plaintext buffer comes back once encrypted, and `readBuffer(length)` hands
 *    it out again as the target of the next File read;
 *  - a decode job's blocks are copied into one buffer that travels to the worker and back.
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
  encode(job: SegmentEncodeJob): Promise<EncodeReply>;
  decode(job: SegmentDecodeJob, input: ArrayBuffer): Promise<DecodeReply>;
}

/** Runs a task on one of `size` workers (WorkerPool). */
export interface SegmentWorkers {
  readonly size: number;
  run<R>(task: (remote: Remote<SegmentWorkerLike>) => Promise<R>): Promise<R>;
}

export interface PooledRunner extends SegmentRunner {
  /** A buffer of `length` bytes to read plaintext into: a returned one when it fits. */
  readBuffer(length: number): Uint8Array;
}

function ownsBuffer(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}
const owned = (a: Uint8Array): Uint8Array => (ownsBuffer(a) ? a : a.slice());

export function pooledRunner(workers: SegmentWorkers): PooledRunner {
  const spareBlocks: Uint8Array[] = [];
  const spareReads: Uint8Array[] = [];
  const spareInputs: ArrayBuffer[] = [];
  const keep = (list: Uint8Array[], a: Uint8Array | undefined) => {
    if (a && list.length < SPARE_BUFFERS && ownsBuffer(a)) list.push(a);
  };
  return {
    parallelism: workers.size,
    async encode(job): Promise<EncodedSegment> {
      const plaintext = owned(job.plaintext);
      const scratch = job.scratch ?? spareBlocks.pop();
      const buffers = [plaintext.buffer, ...(scratch ? [scratch.buffer] : [])] as ArrayBuffer[];
      const reply = await workers.run((w) => w.encode(transfer({ ...job, plaintext, scratch }, buffers)));
      keep(spareReads, reply.plaintext);
      return reply.seg;
    },
    release(seg) {
      if (seg.blocks.length) keep(spareBlocks, new Uint8Array(seg.blocks[0].buffer));
    },
    async decode(job): Promise<DecodedSegment> {
      const total = job.blocks.reduce((n, b) => n + b.length, 0);
      const i = spareInputs.findIndex((b) => b.byteLength === total);
      const input = i >= 0 ? spareInputs.splice(i, 1)[0] : new ArrayBuffer(total);
      let at = 0;
      const blocks = job.blocks.map((b) => {
        const view = new Uint8Array(input, at, b.length);
        view.set(b);
        at += b.length;
        return view;
      });
      const reply = await workers.run((w) => w.decode(transfer({ ...job, blocks }, [input]), input));
      if (spareInputs.length < SPARE_BUFFERS) spareInputs.push(reply.input);
      return reply.result;
    },
    readBuffer(length) {
      const i = spareReads.findIndex((b) => b.length === length);
      return i >= 0 ? spareReads.splice(i, 1)[0] : new Uint8Array(length);
    },
  };
}
