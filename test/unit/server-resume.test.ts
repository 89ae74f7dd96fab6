/**
 * Unfinished uploads a server keeps for its clients to resume (StorageServer on a disk
 * backend, injected clock): set aside when their connection is gone or they sit idle, taken
 * back only by the same upload secret with the byte ranges held, kept across a restart as of
 * their last checkpoint, and bounded in number, bytes and age, holding no file handle.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AllocateArgs } from '../../core/protocol/frames.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { StorageServer, type StorageServerOptions } from '../../server/storage-server.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, tempDir } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const sh = (n: number) => asShareNum(n);
const HOUR = 3600_000;
afterAll(() => cleanup());

interface Handle {
  dir: string;
  backend: DiskBackend;
  server: StorageServer;
  log: string[];
}

let clock = 1_750_000_000_000;

async function start(
  dir = tempDir('cairn-resume-'),
  opts: Partial<StorageServerOptions> = {},
): Promise<Handle> {
  const backend = new DiskBackend(dir);
  const log: string[] = [];
  const server = new StorageServer({
    backend,
    nodeId: rand(20),
    now: () => clock,
    uploadGraceMs: 30_000,
    uploadIdleTimeoutMs: 600_000,
    log: (l) => log.push(l),
    ...opts,
  });
  await server.start();
  return { dir, backend, server, log };
}

function upload(si: StorageIndex, size: number, shares: ShareNum[] = [sh(0)]) {
  const s = { renew: rand(32), cancel: rand(32), upload: rand(32) };
  const args: AllocateArgs = { si, ...s, shares, size };
  return { s, args };
}

const incoming = (h: Handle) => fs.readdir(path.join(h.dir, 'storage', 'incoming'));

describe('unfinished uploads', () => {
  it('are set aside after the grace, hold no file, and only their own secret takes them back', async () => {
    const h = await start();
    const si = asStorageIndex(rand(16));
    const data = rand(50_000);
    const { s, args } = upload(si, data.length, [sh(0), sh(1)]);
    const conn = h.server.openSession();
    expect((await h.server.allocate(args, conn)).allocated).toEqual([0, 1]);
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 0, data: data.subarray(0, 20_000) },
      conn,
    );
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 30_000, data: data.subarray(30_000, 35_000) },
      conn,
    );
    expect(h.server.uploadCounts().bookedBytes).toBe(2 * data.length);
    h.server.closeSession(conn);
    clock += 29_000;
    expect(await h.server.parkIdleUploads()).toBe(0);
    clock += 1_000;
    // Both buckets leave the table (their slots and space are free); share 1 held nothing.
    expect(await h.server.parkIdleUploads()).toBe(2);
    expect(h.server.uploadCounts()).toMatchObject({ inProgress: 0, orphaned: 0, parked: 1, bookedBytes: 0 });
    expect(h.backend.handles.inUse).toBe(0);
    expect((await incoming(h)).sort()).toEqual([
      expect.stringMatching(/\.0\.[0-9a-f]{16}$/),
      expect.stringMatching(/\.0\.[0-9a-f]{16}\.state$/),
    ]);

    // Someone else's secret: a fresh bucket beside the parked one, holding nothing.
    const other = upload(si, data.length, [sh(0)]);
    const conn2 = h.server.openSession();
    const r1 = await h.server.allocate(other.args, conn2);
    expect(r1.allocated).toEqual([0]);
    expect(r1.have?.size).toBe(0);
    await h.server.abort({ si, sh: sh(0), upload: other.s.upload }, conn2);
    expect(h.server.uploadCounts().parked).toBe(1);

    // The same secret on a new connection: the ranges it holds.
    const r2 = await h.server.allocate({ ...args, renew: rand(32), cancel: rand(32) }, conn2);
    expect(r2.allocated).toEqual([0, 1]);
    expect([...(r2.have ?? [])]).toEqual([
      [
        0,
        [
          [0, 20_000],
          [30_000, 35_000],
        ],
      ],
    ]);
    expect(h.server.uploadCounts()).toMatchObject({ inProgress: 2, parked: 0 });
    // What it holds is still checked: a different byte where it holds data is refused.
    const wrong = data.slice(19_000, 21_000);
    wrong[0] ^= 1;
    await expect(
      h.server.write({ si, sh: sh(0), upload: s.upload, offset: 19_000, data: wrong }, conn2),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 20_000, data: data.subarray(20_000, 30_000) },
      conn2,
    );
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 35_000, data: data.subarray(35_000) },
      conn2,
    );
    await h.server.close({ si, sh: sh(0), upload: s.upload }, conn2);
    expectBytesEqual(await h.server.readImmutable({ si, sh: sh(0), offset: 0, length: data.length }), data);
    expect(h.log.some((l) => / sh=0 bytes=50000 received=25000$/.test(l))).toBe(true);
    await h.server.abort({ si, sh: sh(1), upload: s.upload }, conn2);
    expect(await incoming(h)).toEqual([]);
    await h.server.stop();
  });

  it('idle ones are set aside too, and a layout of another size starts afresh', async () => {
    const h = await start();
    const si = asStorageIndex(rand(16));
    const { s, args } = upload(si, 10_000);
    const conn = h.server.openSession();
    await h.server.allocate(args, conn);
    await h.server.write({ si, sh: sh(0), upload: s.upload, offset: 0, data: rand(4000) }, conn);
    clock += 600_001;
    expect(await h.server.parkIdleUploads()).toBe(1);
    await expect(
      h.server.write({ si, sh: sh(0), upload: s.upload, offset: 4000, data: rand(10) }, conn),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(h.server.uploadCounts().parked).toBe(1);
    const again = await h.server.allocate({ ...args, size: 12_000 }, conn);
    expect(again.allocated).toEqual([0]);
    expect(again.have?.size).toBe(0);
    expect(h.server.uploadCounts().parked).toBe(0);
    await h.server.stop();
  });

  it('survive a restart as of their last checkpoint; torn or stray files are deleted', async () => {
    const h = await start(undefined, { checkpointBytes: 64 * 1024, checkpointMs: 3600_000 });
    const si = asStorageIndex(rand(16));
    const data = rand(200_000);
    const { s, args } = upload(si, data.length, [sh(0), sh(1)]);
    const conn = h.server.openSession();
    await h.server.allocate(args, conn);
    // 100 KB to share 0: a checkpoint at 64 KiB, then 36 KB more not yet checkpointed.
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 0, data: data.subarray(0, 70_000) },
      conn,
    );
    await waitFor(async () => (await incoming(h)).some((n) => n.endsWith('.state')), {
      what: 'the first checkpoint',
    });
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 70_000, data: data.subarray(70_000, 100_000) },
      conn,
    );
    // Share 1: written, then its checkpoint torn (as a crash mid-write would leave a foreign one).
    await h.server.write(
      { si, sh: sh(1), upload: s.upload, offset: 0, data: data.subarray(0, 70_000) },
      conn,
    );
    await waitFor(async () => (await incoming(h)).filter((n) => n.endsWith('.state')).length === 2, {
      what: 'the second checkpoint',
    });
    // A crash: no orderly stop (the backend's handles are simply dropped).
    await h.backend.close();
    const dir = path.join(h.dir, 'storage', 'incoming');
    const state1 = (await incoming(h)).find((n) => /\.1\.[0-9a-f]{16}\.state$/.test(n))!;
    const bytes = await fs.readFile(path.join(dir, state1));
    await fs.writeFile(path.join(dir, state1), bytes.subarray(0, bytes.length - 5));
    await fs.writeFile(path.join(dir, `${state1.slice(0, 26)}.2.0123456789abcdef`), rand(100)); // no state
    await fs.writeFile(path.join(dir, 'leftover.tmp'), rand(10));

    const again = await start(h.dir);
    expect(again.server.uploadCounts()).toMatchObject({ inProgress: 0, parked: 1 });
    expect((await incoming(again)).length).toBe(2);
    const conn2 = again.server.openSession();
    const r = await again.server.allocate(args, conn2);
    expect(r.allocated).toEqual([0, 1]);
    // Share 0: only what the checkpoint vouched for; share 1: nothing (its checkpoint was torn).
    expect([...(r.have ?? [])]).toEqual([[0, [[0, 70_000]]]]);
    await again.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 70_000, data: data.subarray(70_000) },
      conn2,
    );
    await again.server.close({ si, sh: sh(0), upload: s.upload }, conn2);
    expectBytesEqual(
      await again.server.readImmutable({ si, sh: sh(0), offset: 0, length: data.length }),
      data,
    );
    await again.server.stop();
  });

  it('bytes written while a checkpoint runs are checkpointed after it, with no further write', async () => {
    const dir = tempDir('cairn-resume-');
    let gate: (() => void) | null = null;
    const states: number[] = [];
    let done = 0;
    // The first checkpoint waits at a gate, as a slow disk would keep it.
    class GatedDisk extends DiskBackend {
      override createPending(si: StorageIndex, n: ShareNum) {
        const p = super.createPending(si, n);
        return {
          ...p,
          file: p.file,
          checkpoint: async (state: Uint8Array) => {
            states.push(state.length);
            if (states.length === 1) await new Promise<void>((r) => (gate = r));
            await p.checkpoint(state);
            done++;
          },
        };
      }
    }
    const backend = new GatedDisk(dir);
    const server = new StorageServer({
      backend,
      nodeId: rand(20),
      now: () => clock,
      checkpointBytes: 1000,
      checkpointMs: 50,
    });
    await server.start();
    const si = asStorageIndex(rand(16));
    const data = rand(3000);
    const { s, args } = upload(si, data.length);
    const conn = server.openSession();
    await server.allocate(args, conn);
    await server.write({ si, sh: sh(0), upload: s.upload, offset: 0, data: data.subarray(0, 1000) }, conn);
    await waitFor(() => gate, { what: 'the first checkpoint to start' });
    await server.write(
      { si, sh: sh(0), upload: s.upload, offset: 1000, data: data.subarray(1000, 2000) },
      conn,
    );
    gate!();
    await waitFor(() => done === 2, { what: 'a second checkpoint for the bytes written meanwhile' });
    // A crash now: the restarted server holds all 2000 bytes.
    await backend.close();
    const again = await start(dir);
    const r = await again.server.allocate(args, again.server.openSession());
    expect([...(r.have ?? [])]).toEqual([[0, [[0, 2000]]]]);
    await again.server.stop();
  });

  it('an orderly stop keeps every upload in progress', async () => {
    const h = await start();
    const si = asStorageIndex(rand(16));
    const data = rand(30_000);
    const { s, args } = upload(si, data.length);
    const conn = h.server.openSession();
    await h.server.allocate(args, conn);
    await h.server.write(
      { si, sh: sh(0), upload: s.upload, offset: 0, data: data.subarray(0, 12_345) },
      conn,
    );
    await h.server.stop();
    const again = await start(h.dir);
    const r = await again.server.allocate(args, again.server.openSession());
    expect([...(r.have ?? [])]).toEqual([[0, [[0, 12_345]]]]);
    await again.server.stop();
  });

  it('give way to new uploads that need the space', async () => {
    const dir = tempDir('cairn-resume-');
    const inc = path.join(dir, 'storage', 'incoming');
    const LIMIT = 150_000;
    // A disk of 150 KB, of which parked uploads take what their files take.
    class SmallDisk extends DiskBackend {
      override async freeBytes(): Promise<number> {
        let used = 0;
        for (const n of await fs.readdir(inc).catch(() => [])) {
          used += (await fs.stat(path.join(inc, n)).catch(() => ({ size: 0 }))).size;
        }
        return Math.max(0, LIMIT - used);
      }
    }
    const backend = new SmallDisk(dir);
    const server = new StorageServer({ backend, nodeId: rand(20), now: () => clock, uploadGraceMs: 1000 });
    await server.start();
    for (let i = 0; i < 2; i++) {
      const si = asStorageIndex(rand(16));
      const { s, args } = upload(si, 50_000);
      const conn = server.openSession();
      await server.allocate(args, conn);
      await server.write({ si, sh: sh(0), upload: s.upload, offset: 0, data: rand(50_000) }, conn);
      server.closeSession(conn);
      clock += 1000;
      await server.parkIdleUploads();
    }
    expect(server.uploadCounts().parked).toBe(2);
    expect(await server.availableSpace()).toBeLessThan(60_000);
    const si = asStorageIndex(rand(16));
    const r = await server.allocate(upload(si, 80_000).args, server.openSession());
    expect(r.allocated).toEqual([0]);
    expect(server.uploadCounts().parked).toBe(1);
    await server.stop();
  });

  it('are bounded in number, bytes and age', async () => {
    const h = await start(undefined, { maxParkedUploads: 3, maxParkedBytes: 110_000 });
    const park = async (bytes: number) => {
      const si = asStorageIndex(rand(16));
      const { s, args } = upload(si, 60_000);
      const conn = h.server.openSession();
      await h.server.allocate(args, conn);
      await h.server.write({ si, sh: sh(0), upload: s.upload, offset: 0, data: rand(bytes) }, conn);
      h.server.closeSession(conn);
      clock += 30_000;
      await h.server.parkIdleUploads();
      clock += 1000;
      return args;
    };
    const a = await park(10_000);
    await park(10_000);
    await park(10_000);
    expect(h.server.uploadCounts()).toMatchObject({ parked: 3 });
    await park(10_000); // the fourth: the oldest goes
    expect(h.server.uploadCounts()).toMatchObject({ parked: 3 });
    let r = await h.server.allocate(a, h.server.openSession());
    expect(r.have?.size).toBe(0);
    await park(50_000); // bytes: 2 × 10 KB + 50 KB fit in 110 KB (the count evicts one)...
    expect(h.server.uploadCounts().parked).toBe(3);
    await park(50_000); // ...a second 50 KB does not: the oldest go until it fits
    expect(h.server.uploadCounts().parkedBytes).toBeLessThanOrEqual(110_000);
    expect(h.server.uploadCounts().parked).toBe(2);
    expect((await incoming(h)).filter((n) => n.endsWith('.state')).length).toBe(2);

    // Age: 24 hours after its last checkpoint, a parked upload is deleted.
    clock += 23 * HOUR;
    expect(await h.server.expireParked()).toBe(0);
    clock += HOUR;
    expect(await h.server.expireParked()).toBe(2);
    expect(h.server.uploadCounts().parked).toBe(0);
    r = await h.server.allocate(a, h.server.openSession());
    expect(r.allocated).toEqual([0]);
    await h.server.stop();
  });
});
