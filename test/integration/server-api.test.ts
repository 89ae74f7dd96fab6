/**
 * The storage protocol end to end on 127.0.0.1: a real StorageServer on disk behind a
 * real WebSocket, driven through the client API (connectStorageServer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StorageConnection, connectStorageServer } from '../../core/protocol/client.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';
import { StorageError } from '../../core/protocol/storage-api.ts';
import { asShareNum, asStorageIndex, type ShareNum } from '../../core/types.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, startTestServer } from '../harness/grid.ts';

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const newSI = () => asStorageIndex(rand(16));
const secrets = () => ({ renew: rand(32), cancel: rand(32), upload: rand(20) });
const sh = (n: number) => asShareNum(n);

function bigRandom(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) out.set(rand(Math.min(65536, n - i)), i);
  return out;
}

let node: Awaited<ReturnType<typeof startTestServer>>;
let conn: StorageConnection;

beforeAll(async () => {
  node = await startTestServer();
  conn = await connectStorageServer(node.url!, node.serverId);
});
afterAll(async () => {
  conn?.close();
  await node?.close();
  cleanup();
});

describe('immutable shares', () => {
  it('allocate, write, close, list and read back byte-equal', async () => {
    const si = newSI();
    const s = secrets();
    const data = bigRandom(3 * 1024 * 1024 + 123); // spans several frames
    const r = await conn.allocateBuckets(si, s, [sh(0), sh(3)], data.length);
    expect(r).toEqual({ alreadyHave: [], allocated: [0, 3] });
    // Nothing is visible before close.
    expect(await conn.listShares(si)).toEqual([]);
    await Promise.all([
      conn.writeShare(si, sh(0), s.upload, 0, data),
      conn.writeShare(si, sh(3), s.upload, 0, data.subarray(0, 1000)),
    ]);
    await conn.closeShare(si, sh(0), s.upload);
    await conn.closeShare(si, sh(3), s.upload);
    expect(await conn.listShares(si)).toEqual([0, 3]);
    expectBytesEqual(await conn.readShare(si, sh(0), 0, data.length), data);
    expect(await conn.readShare(si, sh(0), 1_000_000, 10)).toEqual(data.subarray(1_000_000, 1_000_010));
    // Reads past the end are short; at the end, empty.
    expect((await conn.readShare(si, sh(3), 990, 100)).length).toBe(10);
    expect((await conn.readShare(si, sh(3), 1000, 100)).length).toBe(0);
    // A second allocation sees them as held.
    const again = await conn.allocateBuckets(si, secrets(), [sh(0), sh(1)], data.length);
    expect(again.alreadyHave).toEqual([0]);
    expect(again.allocated).toEqual([1]);
  });

  it('allows identical rewrites and refuses conflicting ones', async () => {
    const si = newSI();
    const s = secrets();
    await conn.allocateBuckets(si, s, [sh(1)], 100);
    const block = rand(60);
    await conn.writeShare(si, sh(1), s.upload, 0, block);
    await conn.writeShare(si, sh(1), s.upload, 10, block.subarray(10, 30));
    const other = block.slice(20, 40);
    other[5] ^= 1;
    await expect(conn.writeShare(si, sh(1), s.upload, 20, other)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(conn.writeShare(si, sh(1), s.upload, 90, rand(20))).rejects.toMatchObject({
      code: 'TOO_LARGE',
    });
    await expect(conn.writeShare(si, sh(1), rand(20), 60, rand(5))).rejects.toMatchObject({
      code: 'BAD_SECRET',
    });
    await conn.closeShare(si, sh(1), s.upload);
    expect(await conn.readShare(si, sh(1), 0, 100)).toEqual(block);
    await expect(conn.writeShare(si, sh(1), s.upload, 60, rand(5))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('refuses to close a share with a gap, and abort forgets the upload', async () => {
    const si = newSI();
    const s = secrets();
    await conn.allocateBuckets(si, s, [sh(2)], 100);
    await conn.writeShare(si, sh(2), s.upload, 50, rand(10));
    await expect(conn.closeShare(si, sh(2), s.upload)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await conn.abortShare(si, sh(2), s.upload);
    expect(await conn.listShares(si)).toEqual([]);
    const r = await conn.allocateBuckets(si, secrets(), [sh(2)], 100);
    expect(r.allocated).toEqual([2]);
  });

  it('leases: addLease on held shares, NOT_FOUND on unknown ones; corruption advisories', async () => {
    const si = newSI();
    const s = secrets();
    await conn.allocateBuckets(si, s, [sh(0)], 10);
    await conn.writeShare(si, sh(0), s.upload, 0, rand(10));
    await conn.closeShare(si, sh(0), s.upload);
    await conn.addLease(si, { renew: rand(32), cancel: rand(32) });
    await conn.addLease(si, { renew: s.renew, cancel: s.cancel });
    await expect(conn.addLease(newSI(), { renew: rand(32), cancel: rand(32) })).rejects.toBeInstanceOf(
      StorageError,
    );
    await conn.adviseCorruptShare('immutable', si, sh(0), 'block hash mismatch');
    await expect(conn.adviseCorruptShare('immutable', si, sh(9), 'x')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // Leases were added after the data; the data reads back unchanged.
    expect((await conn.readShare(si, sh(0), 0, 100)).length).toBe(10);
  });

  it('reports its version and space', async () => {
    const v = await conn.getVersion();
    expect(v.availableSpace).toBeGreaterThan(0);
    expect(v.maximumImmutableShareSize).toBeGreaterThan(0);
    expect(v.applicationVersion).toMatch(/^cairn\//);
  });
});

describe('mutable slots', () => {
  const we = rand(32);
  const ms = () => ({ writeEnabler: we, renew: rand(32), cancel: rand(32) });

  it('test-and-write: creates, tests, reads before writing, refuses a wrong write enabler', async () => {
    const si = newSI();
    const first = new Map<
      ShareNum,
      { test: []; write: { offset: number; data: Uint8Array }[]; newLength: null }
    >([
      [sh(0), { test: [], write: [{ offset: 0, data: new Uint8Array([1, 2, 3, 4]) }], newLength: null }],
      [sh(1), { test: [], write: [{ offset: 2, data: new Uint8Array([9]) }], newLength: null }],
    ]);
    const r1 = await conn.readTestWrite(si, ms(), first, [{ offset: 0, size: 4 }]);
    expect(r1.success).toBe(true);
    expect(r1.data.size).toBe(0);
    expect(await conn.listMutableShares(si)).toEqual([0, 1]);
    expect(await conn.listShares(si)).toEqual([]);
    expect(await conn.readMutableShare(si, sh(1), 0, 10)).toEqual(new Uint8Array([0, 0, 9]));

    // A failing test writes nothing, but still returns the reads.
    const bad = new Map([
      [
        sh(0),
        {
          test: [{ offset: 0, size: 2, specimen: new Uint8Array([1, 9]) }],
          write: [{ offset: 0, data: rand(4) }],
          newLength: null,
        },
      ],
    ]);
    const r2 = await conn.readTestWrite(si, ms(), bad, [{ offset: 1, size: 2 }]);
    expect(r2.success).toBe(false);
    expect(r2.data.get(sh(0))).toEqual([new Uint8Array([2, 3])]);
    expect(r2.data.get(sh(1))).toEqual([new Uint8Array([0, 9])]);
    expect(await conn.readMutableShare(si, sh(0), 0, 10)).toEqual(new Uint8Array([1, 2, 3, 4]));

    // A passing test writes; reads show the old bytes; new-length truncates.
    const good = new Map([
      [
        sh(0),
        {
          test: [{ offset: 0, size: 2, specimen: new Uint8Array([1, 2]) }],
          write: [{ offset: 1, data: new Uint8Array([7, 7, 7, 7, 7]) }],
          newLength: 3,
        },
      ],
    ]);
    const r3 = await conn.readTestWrite(si, ms(), good, [{ offset: 0, size: 10 }]);
    expect(r3.success).toBe(true);
    expect(r3.data.get(sh(0))).toEqual([new Uint8Array([1, 2, 3, 4])]);
    expect(await conn.readMutableShare(si, sh(0), 0, 10)).toEqual(new Uint8Array([1, 7, 7]));

    // Wrong write enabler.
    await expect(
      conn.readTestWrite(si, { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) }, good, []),
    ).rejects.toMatchObject({ code: 'BAD_WRITE_ENABLER' });

    // new-length 0 deletes.
    const del = new Map([[sh(1), { test: [], write: [], newLength: 0 }]]);
    expect((await conn.readTestWrite(si, ms(), del, [])).success).toBe(true);
    expect(await conn.listMutableShares(si)).toEqual([0]);
    await conn.addLease(si, { renew: rand(32), cancel: rand(32) });
    expect(await conn.readMutableShare(si, sh(0), 0, 10)).toEqual(new Uint8Array([1, 7, 7]));
  });
});

describe('identity', () => {
  it('refuses a server that cannot prove the expected ServerId', async () => {
    const other = generateKeyPair().serverId;
    await expect(connectStorageServer(node.url!, other)).rejects.toMatchObject({ code: 'HANDSHAKE_FAILED' });
  });
});

describe('kinds do not mix', () => {
  it('a slot write cannot replace immutable shares, nor an upload a mutable share', async () => {
    const si = newSI();
    const s = secrets();
    await conn.allocateBuckets(si, s, [sh(0)], 4);
    await conn.writeShare(si, sh(0), s.upload, 0, new Uint8Array([1, 2, 3, 4]));
    await conn.closeShare(si, sh(0), s.upload);
    const tw = new Map([
      [sh(0), { test: [], write: [{ offset: 0, data: new Uint8Array([9]) }], newLength: null }],
    ]);
    await expect(
      conn.readTestWrite(si, { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) }, tw, []),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await conn.readShare(si, sh(0), 0, 4)).toEqual(new Uint8Array([1, 2, 3, 4]));

    const mi = newSI();
    await conn.readTestWrite(mi, { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) }, tw, []);
    expect(await conn.allocateBuckets(mi, secrets(), [sh(0), sh(1)], 4)).toEqual({
      alreadyHave: [],
      allocated: [1],
    });
    expect(await conn.readMutableShare(mi, sh(0), 0, 4)).toEqual(new Uint8Array([9]));
  });

  it('serves many concurrent reads of the same shares', async () => {
    const si = newSI();
    const s = secrets();
    const data = rand(50_000);
    await conn.allocateBuckets(si, s, [sh(0), sh(1)], data.length);
    for (const n of [0, 1]) {
      await conn.writeShare(si, sh(n), s.upload, 0, data);
      await conn.closeShare(si, sh(n), s.upload);
    }
    const reads = await Promise.all(
      Array.from({ length: 200 }, (_, i) => conn.readShare(si, sh(i % 2), (i * 97) % 40_000, 1000)),
    );
    reads.forEach((r, i) => {
      const at = (i * 97) % 40_000;
      expectBytesEqual(r, data.subarray(at, at + 1000));
    });
  });
});
