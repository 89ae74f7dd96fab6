/**
 * The disk backend's group commit of shares given whole (server/backends/disk-committer.ts):
 * a burst of commits lands byte-identical to what the careful path writes, in Tahoe's layout;
 * a share whose folder exists goes the careful way; one failing share fails alone, with its
 * errno, and leaves nothing in place; the worker keeps no process alive, is replaced when it
 * dies, and is ended by close.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import { wholeContainer } from '../../server/backends/container-leases.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { DiskCommitError, DiskCommitter } from '../../server/backends/disk-committer.ts';
import { IMMUTABLE_HEADER_BYTES, newLease, OWNER_ALLOCATE } from '../../server/containers.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

// Every worker the committer starts, so a test can see it end (or end it).
const started = vi.hoisted(() => [] as Worker[]);
vi.mock('node:worker_threads', async (real) => {
  const wt = await real<typeof import('node:worker_threads')>();
  class Recorded extends wt.Worker {
    constructor(...args: ConstructorParameters<typeof wt.Worker>) {
      super(...args);
      started.push(this);
    }
  }
  return { ...wt, Worker: Recorded };
});

afterAll(() => cleanup());

const rand = (n: number) => new Uint8Array(randomBytes(n));
/** A committer job for share 0 of folder `name` under `parent`, its incoming file in `incoming`. */
const jobIn = (incoming: string, parent: string, name: string) => ({
  tmp: path.join(incoming, `${name}.tmp`),
  dir: path.join(parent, name),
  final: path.join(parent, name, '0'),
  bytes: rand(100),
});
const lease = () => newLease(rand(32), rand(32), 1_800_000_000, undefined, OWNER_ALLOCATE);

async function backend() {
  const dir = tempDir('cairn-commit-');
  const b = new DiskBackend(dir);
  await b.init();
  const siDir = (si: StorageIndex) => {
    const s = base32Encode(si);
    return path.join(dir, 'storage', 'shares', s.slice(0, 2), s);
  };
  const sharePath = (si: StorageIndex, sh: ShareNum) => path.join(siDir(si), String(sh));
  const incoming = () => fs.readdir(path.join(dir, 'storage', 'incoming'));
  return { b, dir, siDir, sharePath, incoming };
}

const exited = (w: Worker) => new Promise<number>((r) => w.once('exit', r));

describe('group commit of shares given whole', () => {
  it('200 at once land as the careful path writes them, in Tahoe layout, readable through the backend', async () => {
    const { b, sharePath, incoming } = await backend();
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
    // The careful path, for comparison: the data written through the upload's file, then sealed.
    const careful = async (m: (typeof made)[number]) => {
      const si = asStorageIndex(rand(16));
      const p = b.createPending(si, m.sh);
      await p.file.write(IMMUTABLE_HEADER_BYTES, m.data);
      await p.commit({ dataLength: m.data.length, leases: m.leases });
      return sharePath(si, m.sh);
    };
    for (const [i, m] of made.entries()) {
      const got = new Uint8Array(await fs.readFile(sharePath(m.si, m.sh)));
      expectBytesEqual(got, wholeContainer(m.data, m.leases), `share ${i}`);
      if (i % 40 === 0) {
        const old = await careful(m);
        expectBytesEqual(got, new Uint8Array(await fs.readFile(old)), `share ${i} against the careful path`);
        expect((await fs.stat(sharePath(m.si, m.sh))).mode).toBe((await fs.stat(old)).mode);
      }
      expect(await b.listShares('immutable', m.si)).toEqual([m.sh]);
      expect(await b.leases.get(m.si, m.sh)).toEqual({ version: 2, leases: m.leases });
      const f = await b.openShare('immutable', m.si, m.sh, false);
      expectBytesEqual(await f!.read(IMMUTABLE_HEADER_BYTES, m.data.length), m.data);
    }
    expect(await incoming()).toEqual([]);
    await b.close();
  });

  it('a share whose folder is there already (a second share of its storage index) goes the careful way', async () => {
    const { b, sharePath, incoming } = await backend();
    const si = asStorageIndex(rand(16));
    const first = rand(3000);
    await b
      .createPending(si, asShareNum(0))
      .commit({ dataLength: first.length, leases: [lease()], data: first });
    // In one batch: two more shares of it, and shares of new storage indexes.
    const others = Array.from({ length: 6 }, () => ({ si: asStorageIndex(rand(16)), data: rand(2000) }));
    const more = [rand(3000), rand(3000)].map((data) => ({ data, leases: [lease()] }));
    await Promise.all([
      ...more.map((m, i) =>
        b.createPending(si, asShareNum(i + 1)).commit({ dataLength: m.data.length, ...m }),
      ),
      ...others.map((o) =>
        b
          .createPending(o.si, asShareNum(4))
          .commit({ dataLength: o.data.length, leases: [lease()], data: o.data }),
      ),
    ]);
    expect(await b.listShares('immutable', si)).toEqual([0, 1, 2]);
    for (const [i, m] of more.entries()) {
      const got = new Uint8Array(await fs.readFile(sharePath(si, asShareNum(i + 1))));
      expectBytesEqual(got, wholeContainer(m.data, m.leases));
    }
    for (const o of others) expect(await b.listShares('immutable', o.si)).toEqual([4]);
    expect(await incoming()).toEqual([]);
    await b.close();
  });

  it('a share whose folder cannot be made fails alone, with the errno the careful path gives', async () => {
    const { b, siDir, sharePath, incoming } = await backend();
    const blocked = asStorageIndex(rand(16));
    await fs.mkdir(path.dirname(siDir(blocked)), { recursive: true });
    await fs.writeFile(siDir(blocked), 'not a folder');
    const want = await fs.mkdir(siDir(blocked), { recursive: true }).catch((e) => e.code);
    const good = Array.from({ length: 5 }, () => asStorageIndex(rand(16)));
    const data = rand(5000);
    const outcomes = await Promise.allSettled(
      [good[0], good[1], blocked, ...good.slice(2)].map((si) =>
        b.createPending(si, asShareNum(3)).commit({ dataLength: data.length, leases: [lease()], data }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const err = (outcomes[2] as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(DiskCommitError);
    expect(err).toMatchObject({ code: want, syscall: 'mkdir' });
    expect(err.message).toContain(siDir(blocked));
    expect(await fs.readFile(siDir(blocked), 'utf8')).toBe('not a folder');
    for (const si of good) expect(await b.listShares('immutable', si)).toEqual([3]);
    await expect(fs.stat(sharePath(blocked, asShareNum(3)))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(await incoming()).toEqual([]);
    await b.close();
  });

  it('one job failing in a batch fails alone, with its errno, and leaves nothing in place', async () => {
    const dir = tempDir('cairn-commit-');
    const committer = new DiskCommitter();
    const job = (name: string) => jobIn(dir, path.join(dir, 'shares'), name);
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
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'EEXIST', syscall: 'open' });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'EEXIST', syscall: 'mkdir' });
    for (const [i, g] of good.entries()) expect(new Uint8Array(await fs.readFile(g.final))).toEqual(wants[i]);
    expect(await fs.readFile(taken.tmp, 'utf8')).toBe('someone else'); // not ours: left alone
    await expect(fs.stat(taken.final)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.stat(path.join(blocked.dir, '0'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(fs.stat(blocked.tmp)).rejects.toMatchObject({ code: 'ENOENT' });
    await committer.close();
  });

  it('a worker that died is replaced by the next batch; close ends it', async () => {
    const dir = tempDir('cairn-commit-');
    const committer = new DiskCommitter();
    const job = (name: string) => jobIn(dir, dir, name);
    const before = started.length;
    expect(await committer.commit(job('a'))).toBe('done');
    expect(started.length).toBe(before + 1);
    await started[before].terminate(); // as if it had crashed while idle
    expect(await committer.commit(job('b'))).toBe('done');
    expect(started.length).toBe(before + 2);
    const last = exited(started[before + 1]);
    await committer.close();
    await last; // ended by close
    await expect(committer.commit(job('c'))).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(started.length).toBe(before + 2);
  });

  it('an idle worker does not keep the process alive', async () => {
    // A process that commits and never closes its backend must still end by itself.
    const backendModule = fileURLToPath(new URL('../../server/backends/disk-backend.ts', import.meta.url));
    const script = `
      import { DiskBackend } from ${JSON.stringify(backendModule)};
      const b = new DiskBackend(process.argv[1]);
      await b.init();
      const si = new Uint8Array(16).fill(7);
      await b.createPending(si, 0).commit({ dataLength: 3, leases: [], data: new Uint8Array([1, 2, 3]) });
      console.log('committed');
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script, tempDir('cairn-commit-')],
        { timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    expect(out.trim()).toBe('committed');
  });
});
