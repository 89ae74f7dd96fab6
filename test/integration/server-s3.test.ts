/**
 * The S3 backend on a real Ceph radosgw (test/harness/radosgw.ts; one cluster for the file):
 * the backend conformance suite, then `cairn server --s3` as a process: upload and download,
 * restart and read back, the store stopped in the middle of an upload, a wrong secret key,
 * a quota. Skipped, saying why, where Ceph's packages are not installed.
 */
import { randomBytes } from 'node:crypto';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStorageServer } from '../../core/protocol/client.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { concatBytes } from '../../core/primitives/bytes.ts';
import { asShareNum, asStorageIndex, type StorageIndex } from '../../core/types.ts';
import { S3Backend } from '../../server/backends/s3-backend.ts';
import {
  decodeMutableHeader,
  decodeMutableLease,
  extraLeaseRecords,
  IMMUTABLE_HEADER_BYTES,
} from '../../server/containers.ts';
import { StorageServer } from '../../server/storage-server.ts';
import { backendConformance } from '../harness/backend-conformance.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, spawnCairn, spawnServer, tempDir } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import { type Radosgw, radosgwMissing, startRadosgw } from '../harness/radosgw.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const secrets = () => ({ renew: rand(32), cancel: rand(32), upload: rand(20) });
const BUCKET = 'cairn-test';

const missing = radosgwMissing();
if (missing) console.warn(missing);

describe.skipIf(missing !== null)('S3 backend on radosgw', () => {
  let gw: Radosgw;
  let n = 0;
  beforeAll(async () => {
    gw = await startRadosgw(tempDir('cairn-ceph-'));
    process.env.AWS_ACCESS_KEY_ID = gw.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = gw.secretAccessKey;
  }, 180_000);
  afterAll(async () => {
    await gw?.stop();
    cleanup();
  });

  const backendAt = async (prefix: string, quota?: number) => {
    const backend = await S3Backend.create({
      endpoint: gw.endpoint,
      bucket: BUCKET,
      prefix,
      credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
      spoolDir: tempDir('cairn-spool-'),
      quota,
    });
    await backend.init();
    await backend.recoverUploads();
    return { backend, close: () => backend.close(), prefix };
  };

  backendConformance('S3 on radosgw', () => backendAt(`conformance-${n++}`), {
    reopen: (first) => backendAt((first as unknown as { prefix: string }).prefix),
    timeout: 60_000,
  });

  it('a mutable share changed under the server by another writer is refused, not overwritten', async () => {
    const u = await backendAt('conflict');
    try {
      const si = asStorageIndex(rand(16));
      const f = await u.backend.openOrCreateMutable(si, asShareNum(0));
      await f.write(0, rand(100));
      await f.sync();
      const a = await u.backend.openShare('mutable', si, asShareNum(0), true);
      const b = await u.backend.openShare('mutable', si, asShareNum(0), true);
      await a?.write(0, rand(10));
      await a?.sync();
      await b?.write(0, rand(10));
      await expect(b?.sync()).rejects.toMatchObject({ code: 'CONFLICT' });
      // A second creator of the same new share is refused too (If-None-Match: *).
      const si2 = asStorageIndex(rand(16));
      const c = await u.backend.openOrCreateMutable(si2, asShareNum(0));
      const d = await u.backend.openOrCreateMutable(si2, asShareNum(0));
      await c.write(0, rand(10));
      await c.sync();
      await d.write(0, rand(10));
      await expect(d.sync()).rejects.toMatchObject({ code: 'CONFLICT' });
    } finally {
      await u.close();
    }
  }, 60_000);

  it("a mutable share's leases are an object of their own: renewing one never rewrites the share", async () => {
    const QUOTA = 10 ** 9;
    const u = await backendAt('mutable-leases', QUOTA);
    const server = new StorageServer({ backend: u.backend, nodeId: rand(20) });
    const b32 = (si: StorageIndex) => base32Encode(si);
    const keys = (si: StorageIndex) => ({
      share: `mutable-leases/shares/mutable/${b32(si).slice(0, 2)}/${b32(si)}/0`,
      leases: `mutable-leases/leases/mutable/${b32(si).slice(0, 2)}/${b32(si)}/0`,
    });
    const head = async (key: string) => {
      const h = await u.backend.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      return { etag: h.ETag, meta: h.Metadata ?? {} };
    };
    // Every object put, by key, seen as the SDK sends it.
    const puts: string[] = [];
    u.backend.client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key;
        if (context.commandName === 'PutObjectCommand' && key) puts.push(key);
        return next(args);
      },
      { step: 'initialize' },
    );
    const container = async (backend: S3Backend, si: StorageIndex) => {
      const f = await backend.openShare('mutable', si, asShareNum(0), false);
      if (!f) throw new Error('mutable share missing');
      return f.read(0, await f.size());
    };
    const leasesOf = (c: Uint8Array) => {
      const h = decodeMutableHeader(c);
      const extra = extraLeaseRecords(c.subarray(h.extraLeaseOffset)).map(decodeMutableLease);
      return [...h.slots, ...extra].filter((l) => l !== null);
    };
    const write = (si: StorageIndex, we: Uint8Array, offset: number, data: Uint8Array) =>
      server.readTestWrite({
        si,
        writeEnabler: we,
        renew: rand(32),
        cancel: rand(32),
        testWrite: new Map([[asShareNum(0), { test: [], write: [{ offset, data }], newLength: null }]]),
        readVector: [],
      });
    try {
      await server.start();
      const si = asStorageIndex(rand(16));
      const we = rand(32);
      const body = rand(5000);
      expect((await write(si, we, 0, body)).success).toBe(true);
      const k = keys(si);
      const shareTag = (await head(k.share)).etag;
      // Five leases more: the four slots fill, then the block after the data.
      for (let i = 0; i < 5; i++) {
        puts.length = 0;
        await server.addLease({ si, renew: rand(32), cancel: rand(32) });
        expect(puts.filter((key) => !key.includes('/journal/'))).toEqual([k.leases]);
      }
      expect((await head(k.share)).etag).toBe(shareTag);
      const c = await container(u.backend, si);
      expect(leasesOf(c)).toHaveLength(6);
      expect(decodeMutableHeader(c).extraLeaseOffset).toBe(468 + body.length);
      expectBytesEqual(await server.readMutable({ si, sh: asShareNum(0), offset: 0, length: 9000 }), body);

      // The data grows past the extra leases: they move, the share object changes, none is lost.
      const more = rand(3000);
      expect((await write(si, we, body.length, more)).success).toBe(true);
      expect((await head(k.share)).etag).not.toBe(shareTag);
      const grown = await container(u.backend, si);
      expect(leasesOf(grown)).toHaveLength(7);
      expect(decodeMutableHeader(grown).extraLeaseOffset).toBe(468 + body.length + more.length);

      // A second writer on the same keys is refused on the lease object too.
      const [a, b] = [
        await u.backend.openShare('mutable', si, asShareNum(0), true),
        await u.backend.openShare('mutable', si, asShareNum(0), true),
      ];
      await a?.write(100, rand(8));
      await a?.sync();
      await b?.write(100, rand(8));
      await expect(b?.sync()).rejects.toMatchObject({ code: 'CONFLICT' });
      const grownAgain = await container(u.backend, si);
      expect(grownAgain.subarray(0, 100)).toEqual(grown.subarray(0, 100));

      // Read again by the next server on the prefix: the same container, byte for byte, and
      // the space counted as it went is what the objects hold.
      const v = await backendAt('mutable-leases', QUOTA);
      expectBytesEqual(await container(v.backend, si), grownAgain);
      expect(await v.backend.freeBytes()).toBe(await u.backend.freeBytes());
      await v.close();

      // A container stored whole (as before leases were kept apart) is read as it is and
      // cut in two by its next change.
      const old = asStorageIndex(rand(16));
      await u.backend.putObject(keys(old).share, grown);
      expectBytesEqual(await container(u.backend, old), grown);
      expectBytesEqual(
        await server.readMutable({ si: old, sh: asShareNum(0), offset: 0, length: 9000 }),
        concatBytes(body, more),
      );
      await server.addLease({ si: old, renew: rand(32), cancel: rand(32) });
      expect((await head(keys(old).share)).meta.layout).toBe('leases-apart');
      expect(leasesOf(await container(u.backend, old))).toHaveLength(8);
      expectBytesEqual(
        await server.readMutable({ si: old, sh: asShareNum(0), offset: 0, length: 9000 }),
        concatBytes(body, more),
      );

      // Deleted (as the lease crawler deletes an expired share): both objects go, and the space.
      const free = await u.backend.freeBytes();
      await u.backend.deleteShare('mutable', old, asShareNum(0));
      expect(await u.backend.listShares('mutable', old)).toEqual([]);
      await expect(head(keys(old).share)).rejects.toMatchObject({ name: 'NotFound' });
      await expect(head(keys(old).leases)).rejects.toMatchObject({ name: 'NotFound' });
      expect(await u.backend.freeBytes()).toBe(free + grown.length + 92);
    } finally {
      await server.stop();
      await u.close();
    }
  }, 60_000);

  it('parts sent while an upload is written are aborted when it is discarded, or at the next start', async () => {
    const u = await backendAt('parts');
    const unfinished = async () =>
      (
        (await u.backend.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'parts/' })))
          .Uploads ?? []
      ).length;
    const size = 14 * 2 ** 20;
    const data = rand(size);
    const writeAll = async () => {
      const p = u.backend.createPending(asStorageIndex(rand(16)), asShareNum(0), size);
      await p.file.write(IMMUTABLE_HEADER_BYTES, data);
      await waitFor(async () => (await unfinished()) === 1, { what: 'a multipart upload to begin' });
      return p;
    };
    try {
      const p = await writeAll();
      await p.discard();
      expect(await unfinished()).toBe(0);
      // Left behind (as by a crash): the next start aborts it.
      const left = await writeAll();
      const again = await backendAt('parts');
      expect(await unfinished()).toBe(0);
      await again.close();
      await left.release(); // its spool file's handle, which a crash would have closed
    } finally {
      await u.close();
    }
  }, 60_000);

  const s3Args = (prefix: string, extra: string[] = []) => [
    '--s3',
    gw.endpoint,
    '--bucket',
    BUCKET,
    '--prefix',
    prefix,
    ...extra,
  ];

  it('a server on S3 stores what clients upload, reads fail clearly while the store is down, and it serves them again after a restart', async () => {
    const first = await spawnServer({ extraArgs: s3Args('restart') });
    expect(first.output()).toContain('shares kept in the object store');
    const si = asStorageIndex(rand(16));
    const s = secrets();
    const data = rand(12 * 2 ** 20); // more than one multipart part
    let conn = await connectStorageServer(first.url!, first.serverId);
    await conn.allocateBuckets(si, s, [asShareNum(0)], data.length);
    for (let at = 0; at < data.length; at += 2 ** 20) {
      await conn.writeShare(si, asShareNum(0), s.upload, at, data.subarray(at, at + 2 ** 20));
    }
    await conn.closeShare(si, asShareNum(0), s.upload);
    expectBytesEqual(
      await conn.readShare(si, asShareNum(0), 5_000_000, 100_000),
      data.subarray(5_000_000, 5_100_000),
    );
    // A read while the store is down is a clear error, and the next read after it is back works.
    await gw.stopGateway();
    try {
      await expect(conn.readShare(si, asShareNum(0), 0, 2 ** 20)).rejects.toThrow(
        /object store is unreachable or failing/,
      );
    } finally {
      await gw.startGateway();
    }
    expectBytesEqual(await conn.readShare(si, asShareNum(0), 0, 2 ** 20), data.subarray(0, 2 ** 20));
    conn.close();
    await first.stop();

    const again = await spawnServer({ dir: first.dir, extraArgs: s3Args('restart') });
    expect(again.serverId).toBe(first.serverId);
    conn = await connectStorageServer(again.url!, again.serverId);
    expect(await conn.listShares(si)).toEqual([0]);
    expectBytesEqual(await conn.readShare(si, asShareNum(0), 0, data.length), data);
    conn.close();
    await again.stop();
  }, 120_000);

  it('the store stopped in the middle of an upload: the client gets a clear error and no share looks whole', async () => {
    const server = await spawnServer({ extraArgs: s3Args('outage') });
    const si = asStorageIndex(rand(16));
    const s = secrets();
    const data = rand(3 * 2 ** 20);
    const conn = await connectStorageServer(server.url!, server.serverId);
    try {
      await conn.allocateBuckets(si, s, [asShareNum(0)], data.length);
      await conn.writeShare(si, asShareNum(0), s.upload, 0, data.subarray(0, 2 ** 20));
      await gw.stopGateway();
      try {
        await conn.writeShare(si, asShareNum(0), s.upload, 2 ** 20, data.subarray(2 ** 20));
        await expect(conn.closeShare(si, asShareNum(0), s.upload)).rejects.toThrow(
          /object store is unreachable or failing/,
        );
      } finally {
        await gw.startGateway();
      }
      expect(await conn.listShares(si)).toEqual([]);
      // And the store holds no lease object (what makes a share whole) for it.
      const backend = await backendAt('outage');
      expect(await backend.backend.listShares('immutable', si)).toEqual([]);
      await backend.close();
    } finally {
      conn.close();
      await server.stop();
    }
  }, 120_000);

  it('a store that stops answering: the client hears so well within its own time limit, and nothing looks whole', async () => {
    const server = await spawnServer({ extraArgs: s3Args('hang') });
    const si = asStorageIndex(rand(16));
    const s = secrets();
    const data = rand(2 ** 20);
    const conn = await connectStorageServer(server.url!, server.serverId);
    try {
      await conn.allocateBuckets(si, s, [asShareNum(0)], data.length);
      await conn.writeShare(si, asShareNum(0), s.upload, 0, data);
      gw.pauseGateway();
      const t = performance.now();
      try {
        await expect(conn.closeShare(si, asShareNum(0), s.upload)).rejects.toThrow(
          /object store is not answering/,
        );
      } finally {
        gw.resumeGateway();
      }
      // Three tries of ~12 s each (s3-backend.ts STORE_IDLE_TIMEOUT_MS), against the client's own 60 s.
      expect((performance.now() - t) / 1000).toBeLessThan(45);
      expect(await conn.listShares(si)).toEqual([]);
    } finally {
      conn.close();
      await server.stop();
    }
  }, 120_000);

  it('a wrong secret key is a clear startup error', async () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    try {
      await expect(spawnServer({ extraArgs: s3Args('wrong') })).rejects.toThrow(
        /refused these credentials.*S3_AUTH/s,
      );
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  }, 60_000);

  it('cairn grid --s3 runs its servers on the store, each under its own prefix', async () => {
    const { child, match } = await spawnCairn(
      [
        'grid',
        '--servers',
        '2',
        '--port',
        '0',
        '--dir',
        tempDir('cairn-grid-s3-'),
        '--s3',
        gw.endpoint,
        '--bucket',
        BUCKET,
      ],
      /Cairn is running: open (http:\/\/\S+)\//,
      90_000,
    );
    try {
      const servers = await waitFor(
        async () => {
          const list = await fetchGridServers(match[1]);
          return list.length === 2 ? list : null;
        },
        { what: 'both grid servers to be announced', timeoutMs: 30_000 },
      );
      for (const server of servers) {
        const conn = await connectStorageServer(server.url!, server.serverId);
        const si = asStorageIndex(rand(16));
        const s = secrets();
        await conn.allocateBuckets(si, s, [asShareNum(0)], 1000);
        await conn.writeShare(si, asShareNum(0), s.upload, 0, rand(1000));
        await conn.closeShare(si, asShareNum(0), s.upload);
        conn.close();
        // The share is under this server's prefix, and under no other.
        for (const name of ['server-00', 'server-01']) {
          const b = await backendAt(`grid/${name}`);
          expect(await b.backend.listShares('immutable', si)).toEqual(name === server.nickname ? [0] : []);
          await b.close();
        }
      }
    } finally {
      child.kill('SIGTERM');
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, {
        what: 'cairn grid to stop',
        timeoutMs: 20_000,
      });
    }
  }, 150_000);

  it('--quota is the space a server on S3 offers, less what it stores', async () => {
    const server = await spawnServer({ extraArgs: s3Args('quota', ['--quota', '5M']) });
    const conn = await connectStorageServer(server.url!, server.serverId);
    try {
      const before = (await conn.getVersion()).availableSpace;
      expect(before).toBe(5_000_000);
      const si = asStorageIndex(rand(16));
      const s = secrets();
      await conn.allocateBuckets(si, s, [asShareNum(0)], 1_000_000);
      await conn.writeShare(si, asShareNum(0), s.upload, 0, rand(1_000_000));
      await conn.closeShare(si, asShareNum(0), s.upload);
      const after = (await conn.getVersion()).availableSpace;
      expect(before - after).toBeGreaterThanOrEqual(1_000_000);
      expect(before - after).toBeLessThan(1_001_000);
      // More than is left is refused.
      await expect(
        conn.allocateBuckets(asStorageIndex(rand(16)), secrets(), [asShareNum(0)], 4_500_000),
      ).rejects.toMatchObject({ code: 'NO_SPACE' });
    } finally {
      conn.close();
      await server.stop();
    }
  }, 60_000);
});
