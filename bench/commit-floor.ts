/**
 * The disk floor of many small shares: what committing them durably costs on this machine
 * with no protocol, no crypto and no client. Each "server" is the disk backend's own group
 * commit (server/backends/disk-committer.ts and its worker thread: written under incoming/
 * and fsynced, its storage-index folder made, renamed in, the changed folders fsynced), fed
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
import { IMMUTABLE_HEADER_BYTES, IMMUTABLE_LEASE_BYTES } from '../server/containers.ts';
import { DiskCommitter, type WholeShareJob } from '../server/backends/disk-committer.ts';
import { base32Encode } from '../core/primitives/base32.ts';

export interface CommitFloor {
  shares: number;
  seconds: number;
  /** User + system CPU seconds of the commits, every thread. */
  cpu: number;
}

/** A whole share of `size` bytes of data under `root`, named as the backend names them. */
function shareJob(root: string, size: number, n: number): WholeShareJob {
  const si = base32Encode(randomBytes(16));
  const folder = path.join(root, 'shares', si.slice(0, 2), si);
  return {
    tmp: path.join(root, 'incoming', `${si}.0.${n}`),
    dir: folder,
    final: path.join(folder, '0'),
    // A buffer of its own (randomBytes may hand out a slice of a shared one): it is transferred.
    bytes: new Uint8Array(randomBytes(IMMUTABLE_HEADER_BYTES + size + IMMUTABLE_LEASE_BYTES)),
  };
}

/**
 * Commits, through one DiskCommitter (the backend's own) per each of `servers`, one share per
 * entry of `batches` (bytes of share data; the container adds its header and one lease), a
 * batch at a time as one `put` brings it, the servers at once.
 */
export async function commitFloor(
  dir: string,
  servers: number,
  batches: readonly (readonly number[])[],
): Promise<CommitFloor> {
  const roots = Array.from({ length: servers }, (_, s) => path.join(dir, `server-${s}`));
  for (const root of roots) mkdirSync(path.join(root, 'incoming'), { recursive: true });
  // Every container made before the clock starts: the floor is the disk's, not the bytes'.
  let n = 0;
  const plans = roots.map((root) => batches.map((sizes) => sizes.map((size) => shareJob(root, size, n++))));
  const committers = roots.map(() => new DiskCommitter());
  try {
    // One share each first, outside the clock: it starts the committer's worker thread.
    await Promise.all(committers.map((c, s) => c.commit(shareJob(roots[s], 1, n++))));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      committers.map(async (c, s) => {
        for (const jobs of plans[s]) await Promise.all(jobs.map((j) => c.commit(j)));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    const shares = servers * batches.reduce((total, b) => total + b.length, 0);
    return { shares, seconds, cpu: (c.user + c.system) / 1e6 };
  } finally {
    await Promise.all(committers.map((c) => c.close()));
  }
}
