/** The StorageServer core on a disk backend with an injected clock, and its container formats. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import {
  blankMutableLease,
  decodeImmutableLeases,
  decodeMutableHeader,
  encodeImmutableLeases,
  hashLeaseSecret,
  IMMUTABLE_HEADER_BYTES,
  immutableLayout,
  MUTABLE_DATA_OFFSET,
  MUTABLE_MAGIC,
  newLease,
} from '../../server/containers.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { addRange, overlaps } from '../../server/ranges.ts';
import { LEASE_DURATION_MS, StorageServer } from '../../server/storage-server.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
afterAll(() => cleanup());

// Every server a test made is stopped (twice is harmless), so none leaves its share files open.
const made: StorageServer[] = [];
afterEach(async () => {
  for (const s of made.splice(0)) await s.stop();
});

async function makeServer(now: () => number) {
  const dir = tempDir('cairn-core-');
  const server = new StorageServer({
    backend: new DiskBackend(dir),
    nodeId: rand(20),
    now,
    uploadIdleTimeoutMs: 60_000,
  });
  await server.start();
  made.push(server);
  return { dir, server, conn: server.openSession() };
}

describe('StorageServer', () => {
  it('a write that closes (one request) leaves the same container bytes as write then close', async () => {
    const t = 1_700_000_000_000;
    const { dir, server, conn } = await makeServer(() => t);
    const s = { renew: rand(32), cancel: rand(32), upload: rand(32) };
    const data = rand(12_345);
    const sh = asShareNum(3);
    const file = (si: Uint8Array) => {
      const b = base32Encode(si);
      return fs.readFile(path.join(dir, 'storage', 'shares', b.slice(0, 2), b, '3'));
    };
    const apart = asStorageIndex(rand(16));
    await server.allocate({ si: apart, ...s, shares: [sh], size: data.length }, conn);
    await server.write({ si: apart, sh, upload: s.upload, offset: 0, data }, conn);
    await server.close({ si: apart, sh, upload: s.upload }, conn);
    const together = asStorageIndex(rand(16));
    await server.allocate({ si: together, ...s, shares: [sh], size: data.length }, conn);
    await server.writeAndClose({ si: together, sh, upload: s.upload, offset: 0, data, close: true }, conn);
    expect(await file(together)).toEqual(await file(apart));
    expect(await server.listImmutable(together)).toEqual([3]);
    expect(server.uploadCounts()).toMatchObject({ inProgress: 0, bookedBytes: 0 });
    // The bucket is gone: writing or closing it again finds nothing.
    await expect(
      server.writeAndClose({ si: together, sh, upload: s.upload, offset: 0, data, close: true }, conn),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a write that closes after earlier writes checks them and closes; a wrong secret or a gap is refused', async () => {
    const { server, conn } = await makeServer(() => 1_700_000_000_000);
    const s = { renew: rand(32), cancel: rand(32), upload: rand(32) };
    const data = rand(3000);
    const sh = asShareNum(0);
    const si = asStorageIndex(rand(16));
    await server.allocate({ si, ...s, shares: [sh], size: 3000 }, conn);
    await expect(
      server.writeAndClose({ si, sh, upload: rand(32), offset: 0, data, close: true }, conn),
    ).rejects.toMatchObject({ code: 'BAD_SECRET' });
    await expect(
      server.writeAndClose(
        { si, sh, upload: s.upload, offset: 10, data: data.subarray(10), close: true },
        conn,
      ),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' }); // bytes 0..10 missing: not closed
    expect(await server.listImmutable(si)).toEqual([]);
    await server.writeAndClose(
      { si, sh, upload: s.upload, offset: 0, data: data.subarray(0, 10), close: true },
      conn,
    );
    expect(await server.listImmutable(si)).toEqual([0]);
    const got = await server.readImmutable({ si, sh, offset: 0, length: 3000 });
    expect(got).toEqual(data);
  });

  it('writes Tahoe v2 immutable containers with hashed lease secrets and a 31-day lease', async () => {
    const t = 1_700_000_000_000;
    const { dir, server, conn } = await makeServer(() => t);
    const si = asStorageIndex(rand(16));
    const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
    const data = rand(1000);
    await server.allocate({ si, ...s, shares: [asShareNum(7)], size: 1000 }, conn);
    await server.write({ si, sh: asShareNum(7), upload: s.upload, offset: 0, data }, conn);
    await server.close({ si, sh: asShareNum(7), upload: s.upload }, conn);
    const b = base32Encode(si);
    const file = new Uint8Array(
      await fs.readFile(path.join(dir, 'storage', 'shares', b.slice(0, 2), b, '7')),
    );
    const dv = new DataView(file.buffer, file.byteOffset);
    expect([dv.getUint32(0), dv.getUint32(4), dv.getUint32(8)]).toEqual([2, 1000, 1]);
    expect(file.subarray(IMMUTABLE_HEADER_BYTES, IMMUTABLE_HEADER_BYTES + 1000)).toEqual(data);
    const layout = immutableLayout(file, file.length);
    const [lease] = decodeImmutableLeases(file.subarray(layout.leaseOffset));
    expect(lease.renewHash).toEqual(hashLeaseSecret(s.renew));
    expect(lease.cancelHash).toEqual(hashLeaseSecret(s.cancel));
    expect(lease.expires).toBe(Math.floor((t + LEASE_DURATION_MS) / 1000));
    // The secrets themselves are nowhere in the file.
    expect(Buffer.from(file).includes(Buffer.from(s.renew))).toBe(false);
    await server.stop();
  });

  it('aborts uploads left idle past the timeout, releasing their space', async () => {
    let t = 0;
    const { server, conn } = await makeServer(() => t);
    const si = asStorageIndex(rand(16));
    const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
    const before = await server.availableSpace();
    await server.allocate({ si, ...s, shares: [asShareNum(0)], size: 10_000_000 }, conn);
    expect(before - (await server.availableSpace())).toBeGreaterThanOrEqual(9_000_000);
    t = 30_000;
    expect(await server.parkIdleUploads()).toBe(0);
    t = 61_000;
    expect(await server.parkIdleUploads()).toBe(1);
    await expect(
      server.write({ si, sh: asShareNum(0), upload: s.upload, offset: 0, data: rand(5) }, conn),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await server.stop();
  });

  it('creates Tahoe v2 mutable containers', async () => {
    const { dir, server } = await makeServer(() => 1e12);
    const si = asStorageIndex(rand(16));
    const we = rand(32);
    await server.readTestWrite({
      si,
      writeEnabler: we,
      renew: rand(32),
      cancel: rand(32),
      testWrite: new Map([
        [asShareNum(0), { test: [], write: [{ offset: 0, data: new Uint8Array([5, 6]) }], newLength: null }],
      ]),
      readVector: [],
    });
    const b = base32Encode(si);
    const file = new Uint8Array(
      await fs.readFile(path.join(dir, 'storage', 'shares', b.slice(0, 2), b, '0')),
    );
    expect(file.subarray(0, 32)).toEqual(MUTABLE_MAGIC);
    expect(new TextDecoder().decode(file.subarray(0, 27))).toBe('Tahoe mutable container v2\n');
    expect(file.subarray(52, 84)).toEqual(we);
    expect(file.subarray(MUTABLE_DATA_OFFSET, MUTABLE_DATA_OFFSET + 2)).toEqual(new Uint8Array([5, 6]));
    expect(file.length).toBe(MUTABLE_DATA_OFFSET + 2 + 4); // data + empty extra-lease count
    await server.stop();
  });
});

describe('both kinds at one storage index', () => {
  it('in a folder older versions filled with both, a new share never replaces one of the other kind', async () => {
    const { dir, server, conn } = await makeServer(() => 1e12);
    const si = asStorageIndex(rand(16));
    const b = base32Encode(si);
    const m = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    const write = (n: number, data: Uint8Array) =>
      server.readTestWrite({
        si,
        ...m,
        testWrite: new Map([[asShareNum(n), { test: [], write: [{ offset: 0, data }], newLength: null }]]),
        readVector: [],
      });
    const upload = async (n: number, data: Uint8Array) => {
      const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
      await server.allocate({ si, ...s, shares: [asShareNum(n)], size: data.length }, conn);
      await server.write({ si, sh: asShareNum(n), upload: s.upload, offset: 0, data }, conn);
      await server.close({ si, sh: asShareNum(n), upload: s.upload }, conn);
    };
    await write(0, new Uint8Array([1]));
    await upload(1, new Uint8Array([2]));
    // What the server before this change left: both kinds in Tahoe's folder.
    const primary = path.join(dir, 'storage', 'shares', b.slice(0, 2), b);
    await fs.rename(
      path.join(dir, 'storage', 'shares-second-kind', 'immutable', b.slice(0, 2), b, '1'),
      path.join(primary, '1'),
    );
    expect((await fs.readdir(primary)).sort()).toEqual(['0', '1']);
    await upload(0, new Uint8Array([3]));
    await write(1, new Uint8Array([4]));
    expect(await server.listImmutable(si)).toEqual([0, 1]);
    expect(await server.listMutable(si)).toEqual([0, 1]);
    const read = (kind: 'immutable' | 'mutable', n: number) =>
      (kind === 'immutable' ? server.readImmutable : server.readMutable).call(server, {
        si,
        sh: asShareNum(n),
        offset: 0,
        length: 10,
      });
    expect([
      await read('mutable', 0),
      await read('immutable', 1),
      await read('immutable', 0),
      await read('mutable', 1),
    ]).toEqual([1, 2, 3, 4].map((x) => new Uint8Array([x])));
    await server.stop();
  });
});

describe('a full server', () => {
  it('refuses writes with NO_SPACE but still takes leases, so shares do not expire for want of room', async () => {
    const dir = tempDir('cairn-full-');
    const nodeId = rand(20);
    let server = new StorageServer({ backend: new DiskBackend(dir), nodeId });
    await server.start();
    const si = asStorageIndex(rand(16));
    const m = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    const tw = new Map([
      [asShareNum(0), { test: [], write: [{ offset: 0, data: rand(100) }], newLength: null }],
    ]);
    await server.readTestWrite({ si, ...m, testWrite: tw, readVector: [] });
    await server.stop();
    // The same folder with every free byte reserved.
    const full = new DiskBackend(dir);
    server = new StorageServer({ backend: full, nodeId, reservedSpace: (await full.freeBytes()) + 2 ** 30 });
    await server.start();
    expect(await server.availableSpace()).toBe(0);
    await expect(server.readTestWrite({ si, ...m, testWrite: tw, readVector: [] })).rejects.toMatchObject({
      code: 'NO_SPACE',
    });
    await expect(
      server.allocate(
        { si: asStorageIndex(rand(16)), ...m, upload: rand(20), shares: [asShareNum(0)], size: 10 },
        server.openSession(),
      ),
    ).rejects.toMatchObject({ code: 'NO_SPACE' });
    await server.addLease({ si, renew: m.renew, cancel: m.cancel }); // a renewal
    for (let i = 0; i < 5; i++) await server.addLease({ si, renew: rand(32), cancel: rand(32) }); // new ones
    const b = base32Encode(si);
    const file = await fs.readFile(path.join(dir, 'storage', 'shares', b.slice(0, 2), b, '0'));
    expect(file.length).toBe(MUTABLE_DATA_OFFSET + 100 + 4 + 2 * 92); // six leases: four slots, two extra
    await server.stop();
  });
});

describe('ranges', () => {
  it('merge and report overlaps', () => {
    const r: Array<[number, number]> = [];
    addRange(r, 10, 20);
    addRange(r, 30, 40);
    addRange(r, 0, 5);
    expect(r).toEqual([
      [0, 5],
      [10, 20],
      [30, 40],
    ]);
    addRange(r, 5, 10);
    expect(r).toEqual([
      [0, 20],
      [30, 40],
    ]);
    expect(overlaps(r, 15, 35)).toEqual([
      [15, 20],
      [30, 35],
    ]);
    addRange(r, 19, 31);
    expect(r).toEqual([[0, 40]]);
  });
});

describe("Tahoe's container rules", () => {
  it('immutable: version 1 and 2 read; the data-length field rules unless the file size says it saturated or wrapped', () => {
    const lease = encodeImmutableLeases([newLease(rand(32), rand(32), 5)]);
    const file = (version: number, field: number, data: number, leases: number, count = leases) => {
      const h = new Uint8Array(12);
      const v = new DataView(h.buffer);
      v.setUint32(0, version);
      v.setUint32(4, field);
      v.setUint32(8, count);
      return { header: h, size: 12 + data + leases * lease.length };
    };
    const at = (f: { header: Uint8Array; size: number }) => immutableLayout(f.header, f.size);
    expect(at(file(1, 100, 100, 1))).toMatchObject({ version: 1, dataLength: 100, leaseOffset: 112 });
    expect(at(file(2, 100, 100, 2))).toMatchObject({ version: 2, dataLength: 100, leaseCount: 2 });
    // A lease record written but not yet counted (a crash in between): the field still rules.
    expect(at(file(2, 100, 100, 2, 1)).dataLength).toBe(100);
    // Saturated (4 GiB or more), or the length modulo 2^32 as older servers wrote it.
    expect(at(file(2, 0xffffffff, 2 ** 32 + 7, 1)).dataLength).toBe(2 ** 32 + 7);
    expect(at(file(2, 7, 2 ** 32 + 7, 1)).dataLength).toBe(2 ** 32 + 7);
    expect(() => at(file(3, 100, 100, 1))).toThrow('version 3');
  });

  it("mutable: Cairn's older owner-0 leases still count and are rewritten with owner 1; Tahoe's blank record is empty", async () => {
    const { dir, server } = await makeServer(() => 1e12);
    const si = asStorageIndex(rand(16));
    const m = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    await server.readTestWrite({
      si,
      ...m,
      testWrite: new Map([
        [asShareNum(0), { test: [], write: [{ offset: 0, data: rand(10) }], newLength: null }],
      ]),
      readVector: [],
    });
    await server.stop();
    const b = base32Encode(si);
    const p = path.join(dir, 'storage', 'shares', b.slice(0, 2), b, '0');
    const bytes = new Uint8Array(await fs.readFile(p));
    const slot = (n: number) => bytes.subarray(100 + 92 * n, 192 + 92 * n);
    expect(new DataView(bytes.buffer).getUint32(100)).toBe(1); // Tahoe's owner for mutable leases
    new DataView(bytes.buffer).setUint32(100, 0); // as Cairn wrote it before
    slot(1).set(blankMutableLease(2)); // as Tahoe's expirer leaves a cancelled lease
    await fs.writeFile(p, bytes);
    const h = decodeMutableHeader(bytes);
    expect(h.slots[0]).toMatchObject({ owner: 1, renewHash: hashLeaseSecret(m.renew) });
    expect(h.slots[1]).toBeNull();
    const again = new StorageServer({ backend: new DiskBackend(dir), nodeId: rand(20), now: () => 2e12 });
    await again.start();
    await again.addLease({ si, renew: m.renew, cancel: m.cancel }); // a renewal, not a new lease
    await again.addLease({ si, renew: rand(32), cancel: rand(32) }); // takes the empty slot 1
    await again.stop();
    const after = decodeMutableHeader(new Uint8Array(await fs.readFile(p)));
    expect(after.slots[0]).toMatchObject({
      owner: 1,
      expires: Math.floor((2e12 + LEASE_DURATION_MS) / 1000),
    });
    expect(after.slots[1]).not.toBeNull();
    expect(after.slots[2]).toBeNull();
  });
});
