/**
 * The disk floor of many small shares: what committing them durably costs on this machine
 * with no protocol, no crypto and no client. One worker thread per "server" runs the disk
 * backend's own commit (server/backends/disk-commit-worker.ts: written under incoming/ and
 * fsynced, its storage-index folder made, renamed in, the changed folders fsynced), fed
 * batches of whole shares as `put` requests bring them. Any upload that stores these shares
 * on disk servers of this machine pays at least this, so it bounds what bench:tree can show.
 *
 * Measured in the calling process (process.cpuUsage counts every thread of it): call it
 * while the process does nothing else. Nothing is deleted here: a folder of fresh deletes
 * makes ext4's inode allocation dearer for minutes after (recently_deleted), which would
 * load whatever runs next.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { IMMUTABLE_HEADER_BYTES, IMMUTABLE_LEASE_BYTES } from '../server/containers.ts';
import {
  COMMIT_WORKER_SOURCE,
  type WholeShareJob,
  type WholeShareReply,
} from '../server/backends/disk-commit-worker.ts';
import { base32Encode } from '../core/primitives/base32.ts';

export interface CommitFloor {
  shares: number;
  seconds: number;
  /** User + system CPU seconds of the commits, every thread. */
  cpu: number;
}

/**
 * Commits, on each of `servers` workers, one share per entry of `batches` (bytes of share
 * data; the container adds its header and one lease), a batch at a time as one `put` brings
 * it, the servers at once.
 */
export async function commitFloor(
  dir: string,
  servers: number,
  batches: readonly (readonly number[])[],
): Promise<CommitFloor> {
  // Every container made before the clock starts: the floor is the disk's, not the bytes'.
  const plans = Array.from({ length: servers }, (_, s) => {
    const root = path.join(dir, `server-${s}`);
    mkdirSync(path.join(root, 'incoming'), { recursive: true });
    return batches.map((sizes, b) =>
      sizes.map((size, i) => {
        const si = base32Encode(randomBytes(16));
        const folder = path.join(root, 'shares', si.slice(0, 2), si);
        return {
          tmp: path.join(root, 'incoming', `${si}.0.${b}-${i}`),
          dir: folder,
          final: path.join(folder, '0'),
          // A buffer of its own (randomBytes may hand out a slice of a shared one): it is transferred.
          bytes: new Uint8Array(randomBytes(IMMUTABLE_HEADER_BYTES + size + IMMUTABLE_LEASE_BYTES)),
        };
      }),
    );
  });
  const workers = plans.map(() => new Worker(COMMIT_WORKER_SOURCE, { eval: true }));
  try {
    await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      workers.map(async (w, s) => {
        for (const jobs of plans[s]) {
          const replies = await new Promise<WholeShareReply[]>((resolve) => {
            w.once('message', resolve);
            w.postMessage(
              jobs,
              jobs.map((j) => j.bytes.buffer as ArrayBuffer),
            );
          });
          const bad = replies.find((r) => !('ok' in r));
          if (bad) throw new Error(`commit floor: ${JSON.stringify(bad)}`);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    const shares = servers * batches.reduce((n, b) => n + b.length, 0);
    return { shares, seconds, cpu: (c.user + c.system) / 1e6 };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
