/**
 * A SegmentRunner over a pool of chk workers. Inputs are transferred when they own their
 * whole buffer (fresh reads from a File or the network) and copied otherwise, so a caller's
 * larger buffer is never detached.
 */
import { transfer } from 'comlink';
import type { DecodedSegment, SegmentRunner } from '../../core/immutable/segment.ts';
import type { WorkerPool } from '../../web/workers/pool.ts';
import type { ChkWorkerApi } from './worker.ts';

function owned(a: Uint8Array): Uint8Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

export function workerRunner(pool: WorkerPool<ChkWorkerApi>): SegmentRunner {
  return {
    parallelism: pool.size,
    encode(job) {
      const plaintext = owned(job.plaintext);
      return pool.run((w) => w.encode(transfer({ ...job, plaintext }, [plaintext.buffer as ArrayBuffer])));
    },
    decode(job) {
      const blocks = job.blocks.map(owned);
      const buffers = [...new Set(blocks.map((b) => b.buffer as ArrayBuffer))];
      return pool.run((w) => w.decode(transfer({ ...job, blocks }, buffers)) as Promise<DecodedSegment>);
    },
  };
}
