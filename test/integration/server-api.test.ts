/**
 * The storage protocol end to end on 127.0.0.1: a real StorageServer on disk behind a
 * real WebSocket, driven through the client API (connectStorageServer).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { type StorageConnection, connectStorageServer } from '../../core/protocol/client.ts';
import type { ShareTestWrite } from '../../core/protocol/storage-api.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';
import * as L from '../../core/protocol/limits.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import { ADVISORY_REASON_CHARS } from '../../server/advisories.ts';
import { decodeImmutableLeases, hashLeaseSecret, immutableLayout } from '../../server/containers.ts';
import { LEASE_DURATION_MS } from '../../server/storage-server.ts';
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

const DAY = 24 * 3600 * 1000;
/** The server's clock, moved by tests that look at lease expiry times. */
let clock = 1_750_000_000_000;

let node: Awaited<ReturnType<typeof startTestServer>>;
let conn: StorageConnection;

const advisoryDir = () => path.join(node.dir, 'storage', 'corruption-advisories');
const advisoryFiles = () => fs.readdir(advisoryDir());

/** The leases of an immutable share as stored. */
async function immutableLeasesOnDisk(si: StorageIndex, n: number) {
  const b = base32Encode(si);
  const file = new Uint8Array(
    await fs.readFile(path.join(node.dir, 'storage', 'shares', b.slice(0, 2), b, `${n}`)),
  );
  return decodeImmutableLeases(file.subarray(immutableLayout(file, file.length).leaseOffset));
}

/** Share files of `si` in Tahoe's folder and in the second-kind folders. */
async function shareFiles(si: StorageIndex) {
  const b = base32Encode(si);
  const list = (...parts: string[]) =>
    fs.readdir(path.join(node.dir, 'storage', ...parts, b.slice(0, 2), b)).catch(() => [] as string[]);
  return {
    primary: await list('shares'),
    mutable: await list('shares-second-kind', 'mutable'),
    immutable: await list('shares-second-kind', 'immutable'),
  };
}

beforeAll(async () => {
  node = await startTestServer({ now: () => clock });
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
    expect(r).toEqual({ alreadyHave: [], allocated: [0, 3], held: [] });
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
    // What it holds, asked for or not (Tahoe's alreadygot): a client need not list first.
    expect(again.held).toEqual([0, 3]);
  });

  it('a write that closes: one request, and the share is listed and readable when it answers', async () => {
    const si = newSI();
    const s = secrets();
    const data = rand(40_000);
    await conn.allocateBuckets(si, s, [sh(2)], data.length);
    // The server says it can (its hello answer); the connection then sends one request.
    expect(conn.writeShareAndClose).toBeDefined();
    await conn.writeShareAndClose!(si, sh(2), s.upload, 0, data);
    expect(await conn.listShares(si)).toEqual([2]);
    expectBytesEqual(await conn.readShare(si, sh(2), 0, data.length), data);
    expect((await immutableLeasesOnDisk(si, 2)).map((l) => l.renewHash)).toEqual([hashLeaseSecret(s.renew)]);
    // Closed: the bucket is gone, as after a close.
    await expect(conn.closeShare(si, sh(2), s.upload)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('put: several files stored in one request, each on its own terms', async () => {
    expect(conn.acceptsPut).toBe(true);
    const size = 5_000;
    const files = Array.from({ length: 6 }, (_, i) => ({
      si: newSI(),
      secrets: secrets(),
      size,
      shares: new Map([
        [sh(i), rand(size)],
        [sh(i + 1), rand(size - 7)], // shorter than the size asked for: stored as it is
      ]),
    }));
    // One file already has a share here (another client's), one is being uploaded elsewhere.
    const held = files[1];
    const other = secrets();
    await conn.allocateBuckets(held.si, other, [sh(1)], size);
    await conn.writeShareAndClose!(held.si, sh(1), other.upload, 0, held.shares.get(sh(1))!);
    const busy = files[2];
    await conn.allocateBuckets(busy.si, secrets(), [sh(2)], size);

    const results = await conn.putShares!(files);
    expect(results).toHaveLength(6);
    expect(results[0]).toEqual({ alreadyHave: [], stored: [0, 1], held: [] });
    expect(results[1]).toMatchObject({ alreadyHave: [1], stored: [2], held: [1] });
    expect(results[2].stored).toEqual([3]); // share 2's bucket is another upload's
    expect(results[2].refused).toMatch(/not taken/);
    for (const i of [3, 4, 5]) expect(results[i]).toEqual({ alreadyHave: [], stored: [i, i + 1], held: [] });
    for (const [i, f] of files.entries()) {
      for (const n of results[i].stored) {
        const data = f.shares.get(n)!;
        expectBytesEqual(await conn.readShare(f.si, n, 0, size), data);
        expect((await immutableLeasesOnDisk(f.si, n)).map((l) => l.renewHash)).toContainEqual(
          hashLeaseSecret(f.secrets.renew),
        );
      }
    }
    // The held share got this client's lease too; stored shares are closed (no bucket left).
    expect((await immutableLeasesOnDisk(held.si, 1)).map((l) => l.renewHash)).toEqual([
      hashLeaseSecret(other.renew),
      hashLeaseSecret(held.secrets.renew),
    ]);
    await expect(conn.closeShare(files[0].si, sh(0), files[0].secrets.upload)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // Sent again: everything is already there; nothing changes.
    const again = await conn.putShares!([files[0]]);
    expect(again[0]).toEqual({ alreadyHave: [0, 1], stored: [], held: [0, 1] });
  });

  it('put: malformed batches are refused whole', async () => {
    const si = newSI();
    const s = secrets();
    const file = { si, secrets: s, size: 10, shares: new Map([[sh(0), rand(11)]]) };
    await expect(conn.putShares!([file])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const ok = { si, secrets: s, size: 10, shares: new Map([[sh(0), rand(10)]]) };
    await expect(conn.putShares!([ok, ok])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/storage index twice/),
    });
    const many = Array.from({ length: L.MAX_PUT_SHARES + 1 }, () => ({ ...ok, si: newSI() }));
    await expect(conn.putShares!(many)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await conn.listShares(si)).toEqual([]);
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

  it('leases: addLease adds or renews on disk, NOT_FOUND on unknown shares; advisories are kept, cut', async () => {
    const si = newSI();
    const s = secrets();
    const data = rand(10);
    await conn.allocateBuckets(si, s, [sh(0)], 10);
    await conn.writeShare(si, sh(0), s.upload, 0, data);
    await conn.closeShare(si, sh(0), s.upload);
    const [first] = await immutableLeasesOnDisk(si, 0);
    expect(first.renewHash).toEqual(hashLeaseSecret(s.renew));
    expect(first.expires).toBe(Math.floor((clock + LEASE_DURATION_MS) / 1000));

    // A day later another client adds a lease: a second record, a day later to expire.
    clock += DAY;
    const other = { renew: rand(32), cancel: rand(32) };
    await conn.addLease(si, other);
    let leases = await immutableLeasesOnDisk(si, 0);
    expect(leases.map((l) => l.expires)).toEqual([first.expires, first.expires + DAY / 1000]);
    expect(leases[1].renewHash).toEqual(hashLeaseSecret(other.renew));
    // A day after that the uploader renews: its record's expiry moves, nothing is added.
    clock += DAY;
    await conn.addLease(si, { renew: s.renew, cancel: s.cancel });
    leases = await immutableLeasesOnDisk(si, 0);
    expect(leases.map((l) => l.expires)).toEqual([
      first.expires + (2 * DAY) / 1000,
      first.expires + DAY / 1000,
    ]);
    await expect(conn.addLease(newSI(), { renew: rand(32), cancel: rand(32) })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });

    const before = await advisoryFiles();
    await conn.adviseCorruptShare('immutable', si, sh(0), 'block hash mismatch');
    await expect(conn.adviseCorruptShare('immutable', si, sh(9), 'x')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await conn.adviseCorruptShare('immutable', si, sh(0), 'y'.repeat(L.MAX_REASON_CHARS));
    const added = (await advisoryFiles()).filter((f) => !before.includes(f));
    expect(added).toHaveLength(2);
    const texts = await Promise.all(added.map((f) => fs.readFile(path.join(advisoryDir(), f), 'utf8')));
    const short = texts.find((t) => t.includes('block hash mismatch'))!;
    expect(short).toContain(`immutable share 0 of storage index ${base32Encode(si)}`);
    // The long reason is kept only in part.
    const long = texts.find((t) => t.includes('yyyy'))!;
    expect(long.length).toBeLessThan(ADVISORY_REASON_CHARS + 200);
    expect(long).toContain(`${L.MAX_REASON_CHARS - ADVISORY_REASON_CHARS} more characters not kept`);
    // Leases were added after the data; the data reads back unchanged.
    expect(await conn.readShare(si, sh(0), 0, 100)).toEqual(data);
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

  it('mreadv: one range of every share in one request, as the reads of each give it', async () => {
    const si = newSI();
    expect(await conn.readMutableShares(si, 0, 100)).toEqual(new Map()); // none held
    const data = [rand(5000), rand(3), rand(0), rand(4096)];
    const writes = new Map<ShareNum, ShareTestWrite>(
      data.map((d, i) => [sh(i * 7), { test: [], write: [{ offset: 0, data: d }], newLength: null }]),
    );
    expect((await conn.readTestWrite(si, ms(), writes, [])).success).toBe(true);
    for (const [offset, length] of [
      [0, L.MAX_READV_BYTES],
      [2, 10],
      [4000, 200],
      [0, 0],
    ]) {
      const all = await conn.readMutableShares(si, offset, length);
      expect([...all.keys()]).toEqual([0, 7, 14, 21]);
      for (const [shnum, bytes] of all) {
        expectBytesEqual(bytes, await conn.readMutableShare(si, shnum, offset, length));
      }
    }
    expectBytesEqual((await conn.readMutableShares(si, 0, 4096)).get(sh(0))!, data[0].subarray(0, 4096));
    // Over the limit the client refuses to ask (a server refuses such a frame: frames.test.ts).
    await expect(conn.readMutableShares(si, 0, L.MAX_READV_BYTES + 1)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });
});

describe('identity', () => {
  it('refuses a server that cannot prove the expected ServerId', async () => {
    const other = generateKeyPair().serverId;
    await expect(connectStorageServer(node.url!, other)).rejects.toMatchObject({ code: 'HANDSHAKE_FAILED' });
  });
});

describe('kinds do not block each other', () => {
  const tw = (data: Uint8Array) =>
    new Map([[sh(0), { test: [], write: [{ offset: 0, data }], newLength: null }]]);

  // Fails on the code before this change: the owner's write got CONFLICT for good.
  it('an immutable share an outsider puts at a mutable slot does not freeze the slot', async () => {
    const si = newSI();
    const owner = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    expect((await conn.readTestWrite(si, owner, tw(new Uint8Array([1, 2, 3])), [])).success).toBe(true);
    const s = secrets();
    expect((await conn.allocateBuckets(si, s, [sh(1)], 2)).allocated).toEqual([1]);
    await conn.writeShare(si, sh(1), s.upload, 0, new Uint8Array([7, 7]));
    await conn.closeShare(si, sh(1), s.upload);
    // The owner goes on writing with its write enabler.
    expect((await conn.readTestWrite(si, owner, tw(new Uint8Array([4, 5])), [])).success).toBe(true);
    // Even the slot's own share number may hold an immutable share beside it.
    expect((await conn.allocateBuckets(si, secrets(), [sh(0)], 2)).allocated).toEqual([0]);
    expect(await conn.readMutableShare(si, sh(0), 0, 10)).toEqual(new Uint8Array([4, 5, 3]));
    expect(await conn.listMutableShares(si)).toEqual([0]);
    expect(await conn.listShares(si)).toEqual([1]);
    expect(await conn.readShare(si, sh(1), 0, 10)).toEqual(new Uint8Array([7, 7]));
    // The slot keeps Tahoe's place; the latecomer lives beside it.
    expect(await shareFiles(si)).toEqual({ primary: ['0'], mutable: [], immutable: ['1'] });
  });

  // Fails on the code before this change: close got CONFLICT ("became a mutable share meanwhile").
  it('a mutable slot an outsider makes during an upload does not block the upload', async () => {
    const si = newSI();
    const s = secrets();
    await conn.allocateBuckets(si, s, [sh(0)], 4);
    await conn.writeShare(si, sh(0), s.upload, 0, new Uint8Array([1, 2, 3, 4]));
    const outsider = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    expect((await conn.readTestWrite(si, outsider, tw(new Uint8Array([9])), [])).success).toBe(true);
    await conn.closeShare(si, sh(0), s.upload);
    expect(await conn.readShare(si, sh(0), 0, 4)).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(await conn.readMutableShare(si, sh(0), 0, 4)).toEqual(new Uint8Array([9]));
    expect(await shareFiles(si)).toEqual({ primary: ['0'], mutable: [], immutable: ['0'] });
    // And the reverse order: a slot write at a storage index of immutable shares leaves them be.
    const si2 = newSI();
    const s2 = secrets();
    await conn.allocateBuckets(si2, s2, [sh(0)], 4);
    await conn.writeShare(si2, sh(0), s2.upload, 0, new Uint8Array([1, 2, 3, 4]));
    await conn.closeShare(si2, sh(0), s2.upload);
    expect((await conn.readTestWrite(si2, outsider, tw(new Uint8Array([9])), [])).success).toBe(true);
    expect(await conn.readShare(si2, sh(0), 0, 4)).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(await conn.readMutableShare(si2, sh(0), 0, 4)).toEqual(new Uint8Array([9]));
    expect(await shareFiles(si2)).toEqual({ primary: ['0'], mutable: ['0'], immutable: [] });
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

  it('a write has read its bytes when the call returns, even one waiting for room (readsWritesAtOnce)', async () => {
    // Room for one write at a time: the others wait, framed already.
    const narrow = await connectStorageServer(node.url!, node.serverId, { maxInFlightBytes: 64 * 1024 });
    try {
      expect(narrow.readsWritesAtOnce).toBe(true);
      const si = newSI();
      const s = secrets();
      const part = 256 * 1024;
      const data = bigRandom(4 * part);
      await narrow.allocateBuckets(si, s, [sh(0)], data.length);
      const buffer = new Uint8Array(part);
      const writes: Promise<void>[] = [];
      for (let at = 0; at < data.length; at += part) {
        buffer.set(data.subarray(at, at + part));
        writes.push(narrow.writeShare(si, sh(0), s.upload, at, buffer));
        buffer.fill(0xee); // the caller's memory, taken back at once
      }
      await Promise.all(writes);
      await narrow.closeShare(si, sh(0), s.upload);
      expectBytesEqual(await narrow.readShare(si, sh(0), 0, data.length), data);
    } finally {
      narrow.close();
    }
  });

  it('reads in flight at once each get their own bytes (reply frames are reused only once written)', async () => {
    const si = newSI();
    const s = secrets();
    const size = 4 * 1024 * 1024;
    const shares = [bigRandom(size), bigRandom(size)];
    await conn.allocateBuckets(si, s, [sh(0), sh(1)], size);
    for (const n of [0, 1]) {
      await conn.writeShare(si, sh(n), s.upload, 0, shares[n]);
      await conn.closeShare(si, sh(n), s.upload);
    }
    // Large reads, block-sized ones and small ones: all but the smallest come from the pool.
    for (const chunk of [200 * 1024, 44 * 1024, 5 * 1024, 1024]) {
      const at = (i: number) => (i * 37 * 1024) % (size - chunk);
      for (let round = 0; round < 3; round++) {
        const reads = await Promise.all(
          Array.from({ length: 48 }, (_, i) => conn.readShare(si, sh(i % 2), at(i + round), chunk)),
        );
        reads.forEach((r, i) => {
          expectBytesEqual(r, shares[i % 2].subarray(at(i + round), at(i + round) + chunk));
        });
      }
    }
  });
});
