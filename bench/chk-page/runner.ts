/**
 * A SegmentRunner over a pool of chk workers. Inputs are transferred when they own their
 * whole buffer (fresh reads from a File or the network) and copied otherwise, so a caller's
 * larger buffer is never detached. Released segments' block buffers travel back to a worker
 * with a later job and are reused there.
 */
import { transfer } from 'comlink';
import { type DecodedSegment, SPARE_BUFFERS, type SegmentRunner } from '../../core/immutable/segment.ts';
import type { WorkerPool } from '../../web/workers/pool.ts';
import type { ChkWorkerApi } from './worker.ts';

function owned(a: Uint8Array): Uint8Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

export function workerRunner(pool: WorkerPool<ChkWorkerApi>): SegmentRunner {
  // Released segments' buffers go back to a worker with the next job, to be filled again.
  const spare: Uint8Array[] = [];
  return {
    parallelism: pool.size,
    encode(job) {
      const plaintext = owned(job.plaintext);
      const scratch = spare.pop();
      const buffers = [plaintext.buffer, ...(scratch ? [scratch.buffer] : [])] as ArrayBuffer[];
      return pool.run((w) => w.encode(transfer({ ...job, plaintext, scratch }, buffers)));
    },
    release(seg) {
      if (spare.length < SPARE_BUFFERS && seg.blocks.length) spare.push(new Uint8Array(seg.blocks[0].buffer));
    },
    decode(job) {
      const blocks = job.blocks.map(owned);
      const buffers = [...new Set(blocks.map((b) => b.buffer as ArrayBuffer))];
      return pool.run((w) => w.decode(transfer({ ...job, blocks }, buffers)) as Promise<DecodedSegment>);
    },
  };
}
