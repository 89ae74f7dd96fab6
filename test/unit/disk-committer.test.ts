/**
 * The disk backend's group commit of shares given whole (server/backends/disk-committer.ts):
 * a burst of commits lands byte-identical to the containers, in Tahoe's layout; a share whose
 * folder exists goes the careful way; one failing share fails alone and leaves nothing in
 * place; the worker is gone after close and keeps nothing running.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import { wholeContainer } from '../../server/backends/container-leases.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { DiskCommitter } from '../../server/backends/disk-committer.ts';
import { newLease, OWNER_ALLOCATE } from '../../server/containers.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

afterAll(() => cleanup());

const rand = (n: number) => new Uint8Array(randomBytes(n));
const lease = () => newLease(rand(32), rand(32), 1_800_000_000, undefined, OWNER_ALLOCATE);

async function backend() {
  const dir = tempDir('cairn-commit-');
  const b = new DiskBackend(dir);
  await b.init();
  const sharePath = (si: StorageIndex, sh: ShareNum) => {
    const s = base32Encode(si);
    return path.join(dir, 'storage', 'shares', s.slice(0, 2), s, String(sh));
  };
  return { b, dir, sharePath };
}

describe('group commit of shares given whole', () => {
  it('200 at once land as their containers, in Tahoe layout, readable through the backend', async () => {
    const { b, dir, sharePath } = await backend();
    const made = Array.from({ length: 200 }, (_, i) => ({
      si: asStorageIndex(rand(16)),
      sh: asShareNum(i % 10),
      data: rand(1 + ((i * 997) % 40_000)),
      leases: [lease()],
    }));
    await Promise.all(
      made.map((m) =>
        b.createPending(m.si, m.sh).commit({ dataLength: m.data.length, leases: m.leases, data: m.data }),
      ),
    );
    for (const m of made) {
      const want = wholeContainer(m.data, m.leases);
      expectBytesEqual(new Uint8Array(await fs.readFile(sharePath(m.si, m.sh))), want);
      expect(await b.listShares('immutable', m.si)).toEqual([m.sh]);
    }
    expect(await fs.readdir(path.join(dir, 'storage', 'incoming'))).toEqual([]);
    await b.close();
  });

  it('a share whose folder is there already (a second share of its storage index) goes the careful way', async () => {
    const { b, sharePath } = await backend();
    const si = asStorageIndex(rand(16));
    const first = rand(3000);
    await b
      .createPending(si, asShareNum(0))
      .commit({ dataLength: first.length, leases: [lease()], data: first });
    // In one batch: two more shares of it, and shares of new storage indexes.
    const others = Array.from({ length: 6 }, () => ({ si: asStorageIndex(rand(16)), data: rand(2000) }));
    const more = [rand(3000), rand(3000)];
    await Promise.all([
      ...more.map((d, i) =>
        b.createPending(si, asShareNum(i + 1)).commit({ dataLength: d.length, leases: [lease()], data: d }),
      ),
      ...others.map((o) =>
        b
          .createPending(o.si, asShareNum(4))
          .commit({ dataLength: o.data.length, leases: [lease()], data: o.data }),
      ),
    ]);
    expect(await b.listShares('immutable', si)).toEqual([0, 1, 2]);
    const container = new Uint8Array(await fs.readFile(sharePath(si, asShareNum(2))));
    expect(container.subarray(12, 12 + 3000)).toEqual(more[1]);
    for (const o of others) expect(await b.listShares('immutable', o.si)).toEqual([4]);
    await b.close();
  });

  it('one share failing in a batch fails alone, with its errno, and leaves nothing in place', async () => {
    const dir = tempDir('cairn-commit-');
    const committer = new DiskCommitter();
    const job = (name: string) => ({
      tmp: path.join(dir, `${name}.tmp`),
      dir: path.join(dir, 'shares', name),
      final: path.join(dir, 'shares', name, '0'),
      bytes: rand(100),
    });
    await fs.mkdir(path.join(dir, 'shares'));
    const good = [job('a'), job('b')];
    const taken = job('c');
    await fs.writeFile(taken.tmp, 'someone else'); // its incoming name exists
    const blocked = job('d');
    await fs.writeFile(blocked.dir, 'not a folder'); // its folder cannot be made
    const wants = good.map((g) => new Uint8Array(g.bytes));
    const outcomes = await Promise.allSettled(
      [good[0], taken, blocked, good[1]].map((j) => committer.commit(j)),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'EEXIST' });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'EEXIST' });
    for (const [i, g] of good.entries()) expect(new Uint8Array(await fs.readFile(g.final))).toEqual(wants[i]);
    expect(await fs.readFile(taken.tmp, 'utf8')).toBe('someone else'); // not ours: left alone
    await expect(fs.stat(path.join(blocked.dir, '0'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(fs.stat(blocked.tmp)).rejects.toMatchObject({ code: 'ENOENT' });
    // Closed: the worker ends, later commits are refused.
    await committer.close();
    await expect(committer.commit(job('e'))).rejects.toMatchObject({ code: 'ECANCELED' });
  });
});
