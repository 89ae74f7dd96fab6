/**
 * Attacks one client could make on a storage server, over the real WebSocket protocol on
 * 127.0.0.1 (a real StorageServer on disk in a temp folder): each must leave the server
 * serving everyone else. Each test here failed on the server before this hardening.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { connectStorageServer, type StorageConnection } from '../../core/protocol/client.ts';
import * as L from '../../core/protocol/limits.ts';
import { StorageError } from '../../core/protocol/storage-api.ts';
import { asShareNum, asStorageIndex, type StorageIndex } from '../../core/types.ts';
import { decodeImmutableLeases, immutableLayout } from '../../server/containers.ts';
import { cleanup, startTestServer, type TestServerOptions } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const newSI = () => asStorageIndex(rand(16));
const secrets = () => ({ renew: rand(32), cancel: rand(32), upload: rand(20) });
const mutableSecrets = () => ({ writeEnabler: rand(32), renew: rand(32), cancel: rand(32) });
const sh = (n: number) => asShareNum(n);
const ALL = Array.from({ length: 256 }, (_, i) => sh(i));
const GRACE = 30_000;

/** File handles this process has open (the server runs in it). */
const openHandles = () => readdirSync('/proc/self/fd').length;

/** Waits (bounded) until `cond` holds; the result is decided by `cond`, not by the wait. */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof StorageError) return err.code;
    throw err;
  }
}

let clock = 1_750_000_000_000;
const nodes: Array<{ close(): Promise<void> }> = [];
const conns: StorageConnection[] = [];

async function server(opts: TestServerOptions = {}) {
  const node = await startTestServer({ now: () => clock, uploadIdleTimeoutMs: 3600_000, ...opts });
  nodes.push(node);
  return node;
}

async function connect(node: { url: string | null; serverId: Parameters<typeof connectStorageServer>[1] }) {
  const c = await connectStorageServer(node.url!, node.serverId);
  conns.push(c);
  return c;
}

afterAll(async () => {
  for (const c of conns) c.close();
  for (const n of nodes) await n.close();
  cleanup();
});

/** A closed immutable share of `data` at a fresh storage index. */
async function upload(conn: StorageConnection, data: Uint8Array, si = newSI()): Promise<StorageIndex> {
  const s = secrets();
  await conn.allocateBuckets(si, s, [sh(0)], data.length);
  if (data.length > 0) await conn.writeShare(si, sh(0), s.upload, 0, data);
  await conn.closeShare(si, sh(0), s.upload);
  return si;
}

describe('uploads in progress', () => {
  it('one connection cannot take every upload slot, and holds no files for what it never wrote', async () => {
    const node = await server();
    const attacker = await connect(node);
    const before = openHandles();
    // The attack from the issue: 17 frames of 256 buckets of size 0, never written.
    const codes: string[] = [];
    for (let i = 0; i < 17; i++)
      codes.push(await codeOf(attacker.allocateBuckets(newSI(), secrets(), ALL, 0)));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(L.MAX_PENDING_UPLOADS_PER_CONNECTION / 256);
    expect(codes.filter((c) => c !== 'ok').every((c) => c === 'UNAVAILABLE')).toBe(true);
    await expect(attacker.allocateBuckets(newSI(), secrets(), [sh(0)], 0)).rejects.toThrow(
      /too many uploads in progress/,
    );
    expect(openHandles() - before).toBeLessThan(16);

    // Someone else uploads as usual.
    const honest = await connect(node);
    const si = newSI();
    const s = secrets();
    expect((await honest.allocateBuckets(si, s, ALL, 10)).allocated).toHaveLength(256);
    await honest.writeShare(si, sh(5), s.upload, 0, rand(10));
    await honest.closeShare(si, sh(5), s.upload);
    expect(await honest.listShares(si)).toEqual([5]);

    // The attacker leaves: its uploads outlive it only by the grace period.
    attacker.close();
    await until(() => node.server.uploadCounts().orphaned === 512, 'the server to see the close');
    clock += GRACE - 1000;
    expect(await node.server.parkIdleUploads()).toBe(0);
    clock += 1000;
    expect(await node.server.parkIdleUploads()).toBe(512);
    expect(node.server.uploadCounts()).toMatchObject({ inProgress: 255, orphaned: 0 });
  });

  it('a client that reconnects within the grace period finishes its upload', async () => {
    const node = await server();
    const first = await connect(node);
    const si = newSI();
    const s = secrets();
    const data = rand(2000);
    await first.allocateBuckets(si, s, [sh(0), sh(1)], data.length);
    await first.writeShare(si, sh(0), s.upload, 0, data.subarray(0, 1000));
    first.close();
    await until(() => node.server.uploadCounts().orphaned === 2, 'the server to see the close');
    clock += GRACE / 2;
    // Same upload secret, new connection: it takes the bucket over.
    const second = await connect(node);
    await second.writeShare(si, sh(0), s.upload, 1000, data.subarray(1000));
    clock += GRACE;
    expect(await node.server.parkIdleUploads()).toBe(1); // share 1 was never taken over
    await second.closeShare(si, sh(0), s.upload);
    expect(await second.readShare(si, sh(0), 0, data.length)).toEqual(data);
    await expect(second.writeShare(si, sh(1), s.upload, 0, data)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('at the server-wide limit, the uploads of closed connections make room for live ones', async () => {
    const node = await server({ maxPendingUploads: 300 });
    const a = await connect(node);
    const b = await connect(node);
    expect((await a.allocateBuckets(newSI(), secrets(), ALL, 0)).allocated).toHaveLength(256);
    // Only what fits is granted.
    expect((await b.allocateBuckets(newSI(), secrets(), ALL, 0)).allocated).toHaveLength(44);
    const honest = await connect(node);
    await expect(honest.allocateBuckets(newSI(), secrets(), [sh(0)], 0)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/too many uploads in progress/),
    });
    a.close();
    await until(() => node.server.uploadCounts().orphaned === 256, 'the server to see the close');
    // No need to wait out the grace: orphans give way.
    expect((await honest.allocateBuckets(newSI(), secrets(), ALL, 0)).allocated).toHaveLength(256);
    expect(node.server.uploadCounts()).toMatchObject({ inProgress: 300, orphaned: 0 });
  });
});

describe('file handles', () => {
  it('stay within the budget however many uploads are written, and reads and lists go on', async () => {
    const budget = 24;
    const node = await server({ maxOpenFiles: budget });
    const conn = await connect(node);
    const stored = rand(5000);
    const storedSi = await upload(conn, stored);
    const before = openHandles();
    const uploads: Array<{ si: StorageIndex; s: ReturnType<typeof secrets> }> = [];
    for (let i = 0; i < 2; i++) {
      const u = { si: newSI(), s: secrets() };
      expect((await conn.allocateBuckets(u.si, u.s, ALL, 4)).allocated).toHaveLength(256);
      uploads.push(u);
    }
    let peak = 0;
    const writes = uploads.flatMap((u) =>
      ALL.map(async (n) => {
        await conn.writeShare(u.si, n, u.s.upload, 0, new Uint8Array([n, 1]));
        peak = Math.max(peak, openHandles() - before);
      }),
    );
    // Reads and lists while 512 uploads are being written.
    const reads = Array.from({ length: 40 }, async (_, i) => {
      expect(await conn.readShare(storedSi, sh(0), i * 100, 100)).toEqual(
        stored.subarray(i * 100, i * 100 + 100),
      );
      expect(await conn.listShares(storedSi)).toEqual([0]);
    });
    await Promise.all([...writes, ...reads]);
    // Every one of them is a file now, but the server holds at most `budget` open.
    expect(peak).toBeLessThanOrEqual(budget + 4);
    for (const n of ALL.slice(0, 20)) {
      const u = uploads[0];
      await conn.writeShare(u.si, n, u.s.upload, 2, new Uint8Array([3, 4]));
      await conn.closeShare(u.si, n, u.s.upload);
    }
    expect(await conn.listShares(uploads[0].si)).toEqual(ALL.slice(0, 20));
    expect(await conn.readShare(uploads[0].si, sh(7), 0, 4)).toEqual(new Uint8Array([7, 1, 3, 4]));
    expect(openHandles() - before).toBeLessThanOrEqual(budget + 4);
  });
});

describe('space', () => {
  /** A server with `bytes` of space left to give (the rest of the disk is reserved). */
  async function withHeadroom(bytes: number) {
    const probe = await startTestServer();
    const free = await probe.server.availableSpace();
    await probe.close();
    return server({ dir: probe.dir, reservedSpace: free - bytes });
  }

  it('concurrent allocations cannot be promised the same bytes', async () => {
    const node = await withHeadroom(40 * 2 ** 20);
    const conn = await connect(node);
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        codeOf(conn.allocateBuckets(newSI(), secrets(), [sh(0)], 24 * 2 ** 20)),
      ),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'NO_SPACE')).toHaveLength(9);
  });

  it('mutable writes count against the space, and a refused one changes nothing', async () => {
    const node = await withHeadroom(8 * 2 ** 20);
    const conn = await connect(node);
    const si = newSI();
    const m = mutableSecrets();
    const first = rand(1000);
    const tw = (offset: number, data: Uint8Array) =>
      new Map([[sh(0), { test: [], write: [{ offset, data }], newLength: null }]]);
    expect((await conn.readTestWrite(si, m, tw(0, first), [])).success).toBe(true);
    const file = path.join(
      node.dir,
      'storage',
      'shares',
      base32Encode(si).slice(0, 2),
      base32Encode(si),
      '0',
    );
    const stored = await fs.readFile(file);
    // One byte at 64 MiB would make a 64 MiB share.
    await expect(conn.readTestWrite(si, m, tw(64 * 2 ** 20, rand(1)), [])).rejects.toMatchObject({
      code: 'NO_SPACE',
    });
    expect(await fs.readFile(file)).toEqual(stored);
    expect(await conn.readMutableShare(si, sh(0), 0, 2000)).toEqual(first);
    // Appending a MiB at a time stops at the headroom.
    let appended = 0;
    for (let i = 0; i < 64; i++) {
      const code = await codeOf(conn.readTestWrite(si, m, tw(1000 + appended, rand(2 ** 20 - 4096)), []));
      if (code === 'NO_SPACE') break;
      expect(code).toBe('ok');
      appended += 2 ** 20 - 4096;
    }
    expect(appended).toBeGreaterThan(2 * 2 ** 20);
    expect(appended).toBeLessThanOrEqual(8 * 2 ** 20);
  });
});

describe('leases', () => {
  it('a stranger cannot grow a share by adding leases, and renewals always count', async () => {
    const node = await server();
    const conn = await connect(node);
    const owner = secrets();
    const si = newSI();
    await conn.allocateBuckets(si, owner, [sh(0)], 1024);
    await conn.writeShare(si, sh(0), owner.upload, 0, rand(1024));
    await conn.closeShare(si, sh(0), owner.upload);
    const b = base32Encode(si);
    const file = path.join(node.dir, 'storage', 'shares', b.slice(0, 2), b, '0');
    const leases = async () => {
      const bytes = new Uint8Array(await fs.readFile(file));
      return {
        size: bytes.length,
        leases: decodeImmutableLeases(bytes.subarray(immutableLayout(bytes, bytes.length).leaseOffset)),
      };
    };
    for (let i = 0; i < 130; i++) {
      clock += 1000;
      await conn.addLease(si, { renew: rand(32), cancel: rand(32) });
    }
    const after = await leases();
    expect(after.leases).toHaveLength(64);
    expect(after.size).toBe(12 + 1024 + 64 * 72);
    // The share lives as long as the newest lease says.
    const newest = Math.floor((clock + 31 * 24 * 3600 * 1000) / 1000);
    expect(Math.max(...after.leases.map((l) => l.expires))).toBe(newest);
    // The owner's lease (the first to expire) gave way; its renewal brings it back.
    clock += 1000;
    await conn.addLease(si, { renew: owner.renew, cancel: owner.cancel });
    const renewed = await leases();
    expect(renewed.leases).toHaveLength(64);
    expect(Math.max(...renewed.leases.map((l) => l.expires))).toBe(newest + 1);
    expect(renewed.size).toBe(after.size);
  });

  it('caps leases on mutable shares too', async () => {
    const node = await server();
    const conn = await connect(node);
    const si = newSI();
    const data = rand(1024);
    await conn.readTestWrite(
      si,
      mutableSecrets(),
      new Map([[sh(0), { test: [], write: [{ offset: 0, data }], newLength: null }]]),
      [],
    );
    for (let i = 0; i < 130; i++) {
      clock += 1000;
      await conn.addLease(si, { renew: rand(32), cancel: rand(32) });
    }
    const b = base32Encode(si);
    const stat = await fs.stat(path.join(node.dir, 'storage', 'shares', b.slice(0, 2), b, '0'));
    expect(stat.size).toBe(468 + 1024 + 4 + (64 - 4) * 92);
    expect(await conn.readMutableShare(si, sh(0), 0, 2000)).toEqual(data);
  });
});

describe('corruption advisories', () => {
  it('cannot fill the disk', async () => {
    const node = await server();
    const conn = await connect(node);
    const si = await upload(conn, rand(10));
    const long = 'x'.repeat(L.MAX_REASON_CHARS);
    // The flood from the issue: as many maximal advisories as fast as possible.
    const codes = await Promise.all(
      Array.from({ length: 200 }, () => codeOf(conn.adviseCorruptShare('immutable', si, sh(0), long))),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(16);
    expect(codes.filter((c) => c !== 'ok').every((c) => c === 'NO_SPACE')).toBe(true);
    // Many storage indexes, fast: the rate bound holds them back.
    const others = await Promise.all(Array.from({ length: 40 }, () => upload(conn, new Uint8Array(0))));
    const more = await Promise.all(
      others.map((o) => codeOf(conn.adviseCorruptShare('immutable', o, sh(0), long))),
    );
    expect(more.filter((c) => c === 'UNAVAILABLE').length).toBeGreaterThan(0);
    expect(more.every((c) => c === 'ok' || c === 'UNAVAILABLE')).toBe(true);
    const dir = path.join(node.dir, 'storage', 'corruption-advisories');
    let bytes = 0;
    for (const f of await fs.readdir(dir)) bytes += (await fs.stat(path.join(dir, f))).size;
    expect(bytes).toBeLessThan((16 + 32) * 4400);
  });
});
