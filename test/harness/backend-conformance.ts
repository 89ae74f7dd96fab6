/**
 * What every ShareBackend must do, as one suite each backend's test file runs on its own
 * backend (disk, memory, S3 on radosgw): the backend level (uploads committed whole or not
 * at all, the backend writing a share's header and first leases around its data, kinds kept apart, leases changed through the lease store without the data, journals, advisories, listings by
 * prefix) and a StorageServer on top of it (upload, read back, lease, mutable write).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import type { ShareBackend, ShareSeal } from '../../server/backends/backend.ts';
import {
  decodeImmutableLeases,
  encodeImmutableHeader,
  encodeImmutableLeases,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  immutableLayout,
  MUTABLE_HEADER_BYTES,
  MUTABLE_MAGIC,
  newLease,
} from '../../server/containers.ts';
import { StorageServer } from '../../server/storage-server.ts';
import { expectBytesEqual } from './bytes.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));

/** A real v2 immutable container: header, data, one lease. */
function container(data: Uint8Array): Uint8Array {
  const lease = encodeImmutableLeases([newLease(rand(32), rand(32), 2_000_000_000)]);
  const out = new Uint8Array(IMMUTABLE_HEADER_BYTES + data.length + lease.length);
  out.set(encodeImmutableHeader(data.length, 1));
  out.set(data, IMMUTABLE_HEADER_BYTES);
  out.set(lease, IMMUTABLE_HEADER_BYTES + data.length);
  return out;
}

/** What a container holds: its data (where it sits in the container) and the seal around it. */
function parts(bytes: Uint8Array): { data: Uint8Array; seal: ShareSeal } {
  const layout = immutableLayout(bytes, bytes.length);
  return {
    data: bytes.subarray(IMMUTABLE_HEADER_BYTES, layout.leaseOffset),
    seal: {
      dataLength: layout.dataLength,
      leases: decodeImmutableLeases(bytes.subarray(layout.leaseOffset)),
    },
  };
}

/** Uploads `bytes` (a container) as clients do: the data, out of order; the backend writes the rest. */
async function commitShare(b: ShareBackend, si: StorageIndex, sh: ShareNum, bytes: Uint8Array) {
  const p = b.createPending(si, sh);
  const { data, seal } = parts(bytes);
  const half = data.length >> 1;
  await p.file.write(IMMUTABLE_HEADER_BYTES + half, data.subarray(half));
  await p.file.write(IMMUTABLE_HEADER_BYTES, data.subarray(0, half));
  await p.commit(seal);
}

async function readAll(b: ShareBackend, kind: 'immutable' | 'mutable', si: StorageIndex, sh: ShareNum) {
  const f = await b.openShare(kind, si, sh, false);
  if (!f) return null;
  try {
    return await f.read(0, await f.size());
  } finally {
    await f.close();
  }
}

export interface BackendUnderTest {
  backend: ShareBackend;
  /** Closes it (and whatever the test made for it). */
  close(): Promise<void>;
}

/**
 * Runs the suite. `make` gives a fresh, empty, initialised backend; `reopen` (when the
 * backend keeps shares across instances) another instance on the same storage.
 */
export function backendConformance(
  name: string,
  make: () => Promise<BackendUnderTest>,
  opts: { reopen?: (first: BackendUnderTest) => Promise<BackendUnderTest>; timeout?: number } = {},
): void {
  const t = opts.timeout ?? 20_000;
  describe(`ShareBackend conformance: ${name}`, () => {
    it(
      'an upload is invisible until committed, then read back whole and by range',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          const bytes = container(rand(70_000));
          const p = b.createPending(si, asShareNum(3));
          const { data, seal } = parts(bytes);
          await p.file.write(IMMUTABLE_HEADER_BYTES, data);
          expect(await b.listShares('immutable', si)).toEqual([]);
          expect(await b.openShare('immutable', si, asShareNum(3), false)).toBeNull();
          await p.commit(seal);
          expect(await b.listShares('immutable', si)).toEqual([3]);
          expect(await b.listShares('mutable', si)).toEqual([]);
          expect(await readAll(b, 'immutable', si, asShareNum(3))).toEqual(bytes);
          const f = await b.openShare('immutable', si, asShareNum(3), false);
          if (!f) throw new Error('share missing');
          const target = new Uint8Array(1000);
          expect(await f.readInto(5000, target)).toBe(1000);
          expect(target).toEqual(bytes.subarray(5000, 6000));
          // Short at the end.
          expect(await f.readInto(bytes.length - 10, target)).toBe(10);
          await f.close();
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'shares committed at once (new storage indexes, given whole or written first) each read back as their container',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const made = Array.from({ length: 12 }, (_, i) => ({
            si: asStorageIndex(rand(16)),
            sh: asShareNum(i % 4),
            bytes: container(rand(1000 + i * 997)),
            whole: i % 2 === 0,
          }));
          await Promise.all(
            made.map(async (m) => {
              if (!m.whole) return commitShare(b, m.si, m.sh, m.bytes);
              const { data, seal } = parts(m.bytes);
              await b.createPending(m.si, m.sh).commit({ ...seal, data });
            }),
          );
          for (const m of made) {
            expect(await b.listShares('immutable', m.si)).toEqual([m.sh]);
            expect(await readAll(b, 'immutable', m.si, m.sh)).toEqual(m.bytes);
          }
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'a discarded upload leaves nothing; a deleted share is gone',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          const p = b.createPending(si, asShareNum(0));
          await p.file.write(0, container(rand(500)));
          await p.discard();
          expect(await b.listShares('immutable', si)).toEqual([]);
          await commitShare(b, si, asShareNum(1), container(rand(500)));
          await commitShare(b, si, asShareNum(2), container(rand(500)));
          await b.deleteShare('immutable', si, asShareNum(1));
          expect(await b.listShares('immutable', si)).toEqual([2]);
          expect(await b.openShare('immutable', si, asShareNum(1), false)).toBeNull();
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'a large upload, told its allocated size: written out of order, closed short of it, or discarded',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          const MiB = 2 ** 20;
          // Several S3 parts and a short tail, written backwards in 1 MiB pieces, one twice.
          const size = 21 * MiB + 1234;
          const whole = container(rand(size));
          const { data, seal } = parts(whole);
          const p = b.createPending(si, asShareNum(0), size);
          const starts = Array.from({ length: Math.ceil(size / MiB) }, (_, i) => i * MiB).reverse();
          for (const at of [...starts, 6 * MiB]) {
            await p.file.write(IMMUTABLE_HEADER_BYTES + at, data.subarray(at, at + MiB));
          }
          await p.commit(seal);
          expectBytesEqual((await readAll(b, 'immutable', si, asShareNum(0))) ?? new Uint8Array(0), whole);
          // Allocated more than was written and closed: the share is what was written.
          const short = container(rand(13 * MiB));
          const s = parts(short);
          const q = b.createPending(si, asShareNum(1), 16 * MiB);
          for (let at = 0; at < s.data.length; at += MiB) {
            await q.file.write(IMMUTABLE_HEADER_BYTES + at, s.data.subarray(at, at + MiB));
          }
          await q.commit(s.seal);
          expectBytesEqual((await readAll(b, 'immutable', si, asShareNum(1))) ?? new Uint8Array(0), short);
          // Written, then discarded: nothing of it is a share.
          const r = b.createPending(si, asShareNum(2), size);
          for (let at = 0; at < size; at += MiB) {
            await r.file.write(IMMUTABLE_HEADER_BYTES + at, data.subarray(at, at + MiB));
          }
          await r.discard();
          expect(await b.listShares('immutable', si)).toEqual([0, 1]);
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'immutable and mutable shares of one storage index and number are kept apart',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          const imm = container(rand(300));
          await commitShare(b, si, asShareNum(0), imm);
          const m = await b.openOrCreateMutable(si, asShareNum(0));
          await m.write(0, new Uint8Array([1, 2, 3]));
          await m.sync();
          await m.close();
          expect(await b.listShares('immutable', si)).toEqual([0]);
          expect(await b.listShares('mutable', si)).toEqual([0]);
          expect(await readAll(b, 'immutable', si, asShareNum(0))).toEqual(imm);
          expect(await readAll(b, 'mutable', si, asShareNum(0))).toEqual(new Uint8Array([1, 2, 3]));
          const names: string[] = [];
          for await (const s of b.listStorageIndexes()) names.push(base32Encode(s));
          expect(names.filter((n) => n === base32Encode(si))).toHaveLength(1);
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'a new mutable share stored whole in one step (where the backend offers it) reads back and changes in place',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          if (!b.createMutable) return; // optional: the server journals creations instead
          const si = asStorageIndex(rand(16));
          const imm = container(rand(300));
          await commitShare(b, si, asShareNum(1), imm);
          const body = new Uint8Array(MUTABLE_HEADER_BYTES + 5000);
          body.set(MUTABLE_MAGIC);
          body.set(rand(5000), MUTABLE_HEADER_BYTES);
          await b.createMutable(si, asShareNum(1), body);
          await b.createMutable(si, asShareNum(6), body);
          expect(await b.listShares('mutable', si)).toEqual([1, 6]);
          expect(await readAll(b, 'mutable', si, asShareNum(6))).toEqual(body);
          expect(await readAll(b, 'immutable', si, asShareNum(1))).toEqual(imm);
          const f = await b.openShare('mutable', si, asShareNum(1), true);
          if (!f) throw new Error('share missing');
          await f.write(MUTABLE_HEADER_BYTES, new Uint8Array([1, 2]));
          await f.sync();
          await f.close();
          const back = await readAll(b, 'mutable', si, asShareNum(1));
          expect(back?.subarray(MUTABLE_HEADER_BYTES, MUTABLE_HEADER_BYTES + 2)).toEqual(
            new Uint8Array([1, 2]),
          );
          expect(back?.subarray(MUTABLE_HEADER_BYTES + 2)).toEqual(body.subarray(MUTABLE_HEADER_BYTES + 2));
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'mutable shares change in place: writes past the end, truncation, reopened',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          // The disk backend knows a mutable container by its magic (Tahoe's layout).
          const H = MUTABLE_HEADER_BYTES;
          const f = await b.openOrCreateMutable(si, asShareNum(4));
          await f.write(0, MUTABLE_MAGIC);
          await f.write(H + 10, new Uint8Array([9, 9]));
          expect(await f.size()).toBe(H + 12);
          await f.truncate(H + 20);
          await f.sync();
          await f.close();
          const g = await b.openShare('mutable', si, asShareNum(4), true);
          if (!g) throw new Error('share missing');
          const got = await g.read(H, 20);
          expect(got).toEqual(Uint8Array.from({ length: 20 }, (_, i) => (i === 10 || i === 11 ? 9 : 0)));
          await g.write(H, new Uint8Array([7]));
          await g.truncate(H + 11);
          await g.sync();
          await g.close();
          const again = await readAll(b, 'mutable', si, asShareNum(4));
          expect(again?.subarray(0, MUTABLE_MAGIC.length)).toEqual(MUTABLE_MAGIC);
          expect(again?.subarray(H)).toEqual(
            Uint8Array.from({ length: 11 }, (_, i) => (i === 0 ? 7 : i === 10 ? 9 : 0)),
          );
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      "a committed immutable share's leases change through the lease store, never its data",
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          const sh = asShareNum(0);
          const data = rand(2000);
          await commitShare(b, si, sh, container(data));
          expect(await b.leases.get(si, asShareNum(1))).toBeNull();
          const first = await b.leases.get(si, sh);
          expect(first?.version).toBe(2);
          expect(first?.leases.map((l) => l.expires)).toEqual([2_000_000_000]);
          const l0 = first?.leases[0];
          if (!l0) throw new Error('lease missing');

          // Renewed, then a second lease added: the container reads as Tahoe's, data intact.
          await b.leases.set(si, sh, [{ ...l0, expires: 2_050_000_000 }]);
          const second = newLease(rand(32), rand(32), 2_100_000_000);
          await b.leases.set(si, sh, [{ ...l0, expires: 2_050_000_000 }, second]);
          const got = await b.leases.get(si, sh);
          expect(got?.leases.map((l) => l.expires)).toEqual([2_050_000_000, 2_100_000_000]);
          expect(got?.leases[1].renewHash).toEqual(second.renewHash);
          const whole = await readAll(b, 'immutable', si, sh);
          if (!whole) throw new Error('share missing');
          const layout = immutableLayout(whole, whole.length);
          expect(layout.leaseCount).toBe(2);
          expect(layout.dataLength).toBe(2000);
          expect(whole.subarray(IMMUTABLE_HEADER_BYTES, IMMUTABLE_HEADER_BYTES + 2000)).toEqual(data);
          expect(decodeImmutableLeases(whole.subarray(layout.leaseOffset))).toEqual(
            got?.leases.map((l) => ({
              owner: l.owner,
              renewHash: l.renewHash,
              cancelHash: l.cancelHash,
              expires: l.expires,
            })),
          );

          // Cut back to one: the container ends after it.
          await b.leases.set(si, sh, [second]);
          expect((await b.leases.get(si, sh))?.leases.map((l) => l.expires)).toEqual([2_100_000_000]);
          const cut = await readAll(b, 'immutable', si, sh);
          expect(cut?.length).toBe(layout.leaseOffset + IMMUTABLE_LEASE_BYTES);
          const f = await b.openShare('immutable', si, sh, false);
          if (!f) throw new Error('share missing');
          const part = new Uint8Array(500);
          expect(await f.readInto(IMMUTABLE_HEADER_BYTES + 700, part)).toBe(500);
          expect(part).toEqual(data.subarray(700, 1200));
          await f.close();

          // A share that is not there gets none; a deleted share's leases go with it.
          await b.leases.set(si, asShareNum(9), [second]);
          expect(await b.listShares('immutable', si)).toEqual([0]);
          expect(await b.leases.get(si, asShareNum(9))).toBeNull();
          await b.deleteShare('immutable', si, sh);
          expect(await b.leases.get(si, sh)).toBeNull();
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'lists storage indexes by their two-character prefix, in name order',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const sis = [rand(16), rand(16), rand(16)].map((x) => asStorageIndex(x));
          // Same prefix for the first two: their first 10 bits agree.
          sis[1][0] = sis[0][0];
          sis[1][1] = (sis[1][1] & 0x3f) | (sis[0][1] & 0xc0);
          await commitShare(b, sis[0], asShareNum(0), container(rand(10)));
          const m = await b.openOrCreateMutable(sis[1], asShareNum(1));
          await m.write(0, rand(10));
          await m.sync();
          await commitShare(b, sis[2], asShareNum(0), container(rand(10)));
          const prefix = base32Encode(sis[0]).slice(0, 2);
          const want = [base32Encode(sis[0]), base32Encode(sis[1])];
          if (base32Encode(sis[2]).startsWith(prefix)) want.push(base32Encode(sis[2]));
          const got = (await b.storageIndexesIn(prefix)).map((s) => base32Encode(s));
          expect(got).toEqual(want.sort());
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'journals and advisories are kept until removed',
      async () => {
        const u = await make();
        try {
          const b = u.backend;
          const si = asStorageIndex(rand(16));
          const bytes = rand(300);
          await b.writeJournal(si, bytes);
          const found: Array<{ si: string; bytes: Uint8Array }> = [];
          for await (const j of b.journals()) found.push({ si: base32Encode(j.si), bytes: j.bytes });
          expect(found).toEqual([{ si: base32Encode(si), bytes }]);
          await b.removeJournal(si);
          const after: unknown[] = [];
          for await (const j of b.journals()) after.push(j);
          expect(after).toEqual([]);
          await b.recordAdvisory('2026-01-01-advisory-1', 'corrupt share');
          expect(await b.advisoryNames()).toContain('2026-01-01-advisory-1');
        } finally {
          await u.close();
        }
      },
      t,
    );

    it(
      'a StorageServer on it uploads, reads back, leases, and writes a mutable slot',
      async () => {
        const u = await make();
        const server = new StorageServer({ backend: u.backend, nodeId: rand(20) });
        try {
          await server.start();
          const conn = server.openSession();
          const si = asStorageIndex(rand(16));
          const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
          const data = rand(100_000);
          await server.allocate(
            { si, ...s, shares: [asShareNum(0), asShareNum(1)], size: data.length },
            conn,
          );
          for (const sh of [0, 1]) {
            await server.write(
              { si, sh: asShareNum(sh), upload: s.upload, offset: 50_000, data: data.subarray(50_000) },
              conn,
            );
            await server.write(
              { si, sh: asShareNum(sh), upload: s.upload, offset: 0, data: data.subarray(0, 50_000) },
              conn,
            );
            await server.close({ si, sh: asShareNum(sh), upload: s.upload }, conn);
          }
          expect(await server.listImmutable(si)).toEqual([0, 1]);
          expect(await server.readImmutable({ si, sh: asShareNum(1), offset: 1234, length: 5000 })).toEqual(
            data.subarray(1234, 6234),
          );
          await server.addLease({ si, renew: rand(32), cancel: rand(32) });
          expect((await u.backend.leases.get(si, asShareNum(0)))?.leases).toHaveLength(2);
          expect(
            await server.readImmutable({ si, sh: asShareNum(0), offset: 0, length: data.length }),
          ).toEqual(data);

          const msi = asStorageIndex(rand(16));
          const we = rand(32);
          const body = rand(3000);
          const r = await server.readTestWrite({
            si: msi,
            writeEnabler: we,
            renew: rand(32),
            cancel: rand(32),
            testWrite: new Map([
              [asShareNum(2), { test: [], write: [{ offset: 0, data: body }], newLength: null }],
            ]),
            readVector: [],
          });
          expect(r.success).toBe(true);
          expect(await server.listMutable(msi)).toEqual([2]);
          expect(await server.readMutable({ si: msi, sh: asShareNum(2), offset: 100, length: 200 })).toEqual(
            body.subarray(100, 300),
          );
        } finally {
          await server.stop();
          await u.close();
        }
      },
      t * 2,
    );

    if (opts.reopen) {
      const reopen = opts.reopen;
      it(
        'shares committed by one instance are read by the next',
        async () => {
          const u = await make();
          const si = asStorageIndex(rand(16));
          const imm = container(rand(4000));
          await commitShare(u.backend, si, asShareNum(5), imm);
          const renewed = (await u.backend.leases.get(si, asShareNum(5)))?.leases.map((l) => ({
            ...l,
            expires: 2_050_000_000,
          }));
          if (!renewed) throw new Error('share missing');
          await u.backend.leases.set(si, asShareNum(5), renewed);
          await u.backend.close();
          const v = await reopen(u);
          try {
            expect(await v.backend.listShares('immutable', si)).toEqual([5]);
            const back = await readAll(v.backend, 'immutable', si, asShareNum(5));
            expect(back?.subarray(0, imm.length - 4)).toEqual(imm.subarray(0, imm.length - 4));
            expect((await v.backend.leases.get(si, asShareNum(5)))?.leases.map((l) => l.expires)).toEqual([
              2_050_000_000,
            ]);
          } finally {
            await v.close();
          }
        },
        t,
      );
    }
  });
}
