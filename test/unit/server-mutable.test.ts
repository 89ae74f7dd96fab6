/**
 * Mutable slots changed in place (server/mutable-slots.ts) on a real DiskBackend in temp
 * folders: containers stay byte-exact Tahoe containers after every operation, a write
 * costs the bytes it touches whatever the share's size, and a crash at any point of a
 * change leaves the slot old or new after restart, never a mix.
 *
 * The backend is observed (and, for crashes, stopped) at its edges only: every write,
 * truncate, fsync and journal operation goes through unchanged unless the test freezes it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { concatBytes } from '../../core/primitives/bytes.ts';
import type { ShareTestWrite, WriteVector } from '../../core/protocol/storage-api.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import type { PendingShare, ShareBackend, ShareFile } from '../../server/backends/backend.ts';
import {
  blankMutableLease,
  decodeMutableLease,
  encodeMutableHeader,
  encodeMutableLease,
  type Lease,
  MUTABLE_DATA_OFFSET,
  newLease,
  type ShareKind,
} from '../../server/containers.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { joinMutable, splitMutable } from '../../server/backends/mutable-split.ts';
import { decodeJournal, encodeJournal } from '../../server/journal.ts';
import { addOrRenewLease } from '../../server/leases.ts';
import {
  planSlotChange,
  type SlotChange,
  type SlotPlan,
  type SlotState,
  slotState,
} from '../../server/mutable-plan.ts';
import { LEASE_DURATION_MS, StorageServer } from '../../server/storage-server.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const sh = (n: number) => asShareNum(n);
afterAll(() => cleanup());

type Op = 'write' | 'truncate' | 'sync' | 'journal' | 'unjournal' | 'delete' | 'commit' | 'create';

/** What a share file held before a write or truncate not yet fsynced. */
type Undo = { at: number; old: Uint8Array; size: number };

/**
 * A DiskBackend whose changes pass through `before(op, bytes)` first: to count bytes
 * written, or to stop the server dead (a promise that never settles) as a kill would.
 * It also remembers what every share write not yet fsynced replaced, so that powerCut()
 * can take the files back to what their last fsync made durable: a kill leaves the page
 * cache to the kernel, a power cut loses it.
 */
class ObservedBackend implements ShareBackend {
  readonly writesVisibleBeforeSync = true;
  private readonly unsynced = new Map<
    string,
    { kind: ShareKind; si: StorageIndex; sh: ShareNum; undo: Undo[] }
  >();

  constructor(
    readonly disk: DiskBackend,
    private readonly before: (op: Op, bytes: number) => Promise<void>,
  ) {}

  private file(f: ShareFile, kind: ShareKind, si: StorageIndex, sh: ShareNum): ShareFile {
    const key = `${kind}/${base32Encode(si)}/${sh}`;
    const remember = async (at: number, length: number) => {
      const size = await f.size();
      const old = at < size ? await f.read(at, Math.min(length, size - at)) : new Uint8Array(0);
      const u = this.unsynced.get(key) ?? { kind, si, sh, undo: [] };
      u.undo.push({ at, old, size });
      this.unsynced.set(key, u);
    };
    return {
      read: (p, n) => f.read(p, n),
      readInto: (p, t) => f.readInto(p, t),
      size: () => f.size(),
      close: () => f.close(),
      write: async (p, d) => {
        await this.before('write', d.length);
        await remember(p, d.length);
        await f.write(p, d);
      },
      truncate: async (n) => {
        await this.before('truncate', 0);
        await remember(n, Number.MAX_SAFE_INTEGER);
        await f.truncate(n);
      },
      sync: async () => {
        await this.before('sync', 0);
        await f.sync();
        this.unsynced.delete(key);
      },
    };
  }

  /** Every share write since its file's last fsync undone, newest first. */
  async powerCut(): Promise<void> {
    for (const { kind, si, sh, undo } of this.unsynced.values()) {
      const f = await this.disk.openShare(kind, si, sh, true);
      if (!f) continue;
      for (const u of undo.reverse()) {
        await f.truncate(Math.max(u.size, u.at + u.old.length));
        await f.write(u.at, u.old);
        await f.truncate(u.size);
      }
      await f.sync();
    }
    this.unsynced.clear();
  }

  get leases(): ShareBackend['leases'] {
    return this.disk.leases;
  }
  init = () => this.disk.init();
  recoverUploads = () => this.disk.recoverUploads();
  close = () => this.disk.close();
  freeBytes = () => this.disk.freeBytes();
  listStorageIndexes = () => this.disk.listStorageIndexes();
  storageIndexesIn = (prefix: string) => this.disk.storageIndexesIn(prefix);
  listShares: ShareBackend['listShares'] = (k, si) => this.disk.listShares(k, si);
  openShare: ShareBackend['openShare'] = async (k, si, n, w) => {
    const f = await this.disk.openShare(k, si, n, w);
    return f && this.file(f, k, si, n);
  };
  openOrCreateMutable: ShareBackend['openOrCreateMutable'] = async (si, n) =>
    this.file(await this.disk.openOrCreateMutable(si, n), 'mutable', si, n);
  createMutable: NonNullable<ShareBackend['createMutable']> = async (si, n, bytes) => {
    await this.before('create', bytes.length);
    await this.disk.createMutable(si, n, bytes);
  };
  createPending(si: StorageIndex, n: ShareNum): PendingShare {
    const p = this.disk.createPending(si, n);
    return {
      file: {
        read: (at, n) => p.file.read(at, n),
        write: async (at, d) => {
          await this.before('write', d.length);
          await p.file.write(at, d);
        },
      },
      commit: async (seal) => {
        await this.before('commit', 0);
        await p.commit(seal);
      },
      discard: () => p.discard(),
      checkpoint: (state) => p.checkpoint(state),
      release: () => p.release(),
    };
  }
  deleteShare: ShareBackend['deleteShare'] = async (k, si, n) => {
    await this.before('delete', 0);
    await this.disk.deleteShare(k, si, n);
    this.unsynced.delete(`${k}/${base32Encode(si)}/${n}`);
  };
  writeJournal: ShareBackend['writeJournal'] = async (si, b) => {
    await this.before('journal', b.length);
    await this.disk.writeJournal(si, b);
  };
  removeJournal: ShareBackend['removeJournal'] = async (si) => {
    await this.before('unjournal', 0);
    await this.disk.removeJournal(si);
  };
  journals = () => this.disk.journals();
  recordAdvisory: ShareBackend['recordAdvisory'] = (n, t) => this.disk.recordAdvisory(n, t);
  advisoryNames = () => this.disk.advisoryNames();
}

const T0 = 1_750_000_000_000;

async function startServer(backend: ShareBackend, now: () => number = () => T0) {
  const server = new StorageServer({ backend, nodeId: new Uint8Array(20).fill(7), now });
  await server.start();
  return server;
}

function sharePath(dir: string, si: StorageIndex, n: number): string {
  const b = base32Encode(si);
  return path.join(dir, 'storage', 'shares', b.slice(0, 2), b, String(n));
}

async function readOrNull(p: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await fs.readFile(p));
  } catch {
    return null;
  }
}

// ---- the reference: Tahoe's MutableShareFile, step by step ----------------------------

/**
 * Tahoe's MutableShareFile (storage/mutable.py) ported statement by statement over a byte
 * array: what Tahoe's own server leaves on disk. The in-place plans must give exactly these
 * bytes. (test/unit/server-tahoe-disk.test.ts checks the same against Tahoe's code run.)
 */
class TahoeShare {
  static readonly D = MUTABLE_DATA_OFFSET;
  constructor(public f: Uint8Array) {}

  /** create_mutable_sharefile: the header with empty slots, data length 0, extra leases at 468. */
  static create(nodeId: Uint8Array, writeEnabler: Uint8Array): TahoeShare {
    const header = encodeMutableHeader({
      nodeId,
      writeEnabler,
      dataLength: 0,
      extraLeaseOffset: 468,
      slots: [],
    });
    return new TahoeShare(concatBytes(header, new Uint8Array(4)));
  }

  private dv(): DataView {
    return new DataView(this.f.buffer, this.f.byteOffset, this.f.byteLength);
  }
  private write(at: number, data: Uint8Array): void {
    this.f = setAt(this.f, at, data);
  }
  private u64(at: number): number {
    return Number(this.dv().getBigUint64(at));
  }
  private setU64(at: number, n: number): void {
    this.dv().setBigUint64(at, BigInt(n));
  }
  get dataLength(): number {
    return this.u64(84);
  }
  get extraLeaseOffset(): number {
    return this.u64(92);
  }
  private numExtra(): number {
    return this.dv().getUint32(this.extraLeaseOffset);
  }
  private setNumExtra(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    this.write(this.extraLeaseOffset, b);
  }

  data(): Uint8Array {
    return this.f.slice(TahoeShare.D, TahoeShare.D + this.dataLength);
  }

  private changeContainerSize(newSize: number): void {
    const oldOffset = this.extraLeaseOffset;
    const newOffset = TahoeShare.D + newSize;
    if (newOffset < oldOffset) return;
    const block = this.f.slice(oldOffset, oldOffset + 4 + this.numExtra() * 92);
    this.write(oldOffset, new Uint8Array(block.length));
    this.write(newOffset, block);
    this.setU64(92, newOffset);
  }

  private writeShareData(offset: number, data: Uint8Array): void {
    const dataLength = this.dataLength;
    if (offset + data.length >= dataLength) {
      if (TahoeShare.D + offset + data.length > this.extraLeaseOffset) {
        this.changeContainerSize(offset + data.length);
      }
      if (offset > dataLength) this.write(TahoeShare.D + dataLength, new Uint8Array(offset - dataLength));
      this.setU64(84, offset + data.length);
    }
    this.write(TahoeShare.D + offset, data);
  }

  writev(writes: WriteVector[], newLength: number | null): void {
    for (const w of writes) this.writeShareData(w.offset, w.data);
    if (newLength !== null && newLength < this.dataLength) this.setU64(84, newLength);
  }

  private slots(): number {
    return 4 + this.numExtra();
  }
  private recordAt(i: number): number {
    return i < 4 ? 100 + i * 92 : this.extraLeaseOffset + 4 + (i - 4) * 92;
  }
  /** _read_lease_record: owner 0 is "no lease here". */
  readLease(i: number): Lease | null {
    const rec = this.f.subarray(this.recordAt(i), this.recordAt(i) + 92);
    return new DataView(rec.buffer, rec.byteOffset).getUint32(0) === 0 ? null : decodeMutableLease(rec);
  }
  private writeLease(i: number, rec: Uint8Array): void {
    if (i >= 4 && i - 4 >= this.numExtra()) this.setNumExtra(this.numExtra() + 1);
    this.write(this.recordAt(i), rec);
  }

  leases(): Lease[] {
    const out: Lease[] = [];
    for (let i = 0; i < this.slots(); i++) {
      const l = this.readLease(i);
      if (l) out.push(l);
    }
    return out;
  }

  /** add_or_renew_lease: renew the first match (expiry only grows), else the first empty slot, else append. */
  addOrRenew(lease: Lease): void {
    for (let i = 0; i < this.slots(); i++) {
      const l = this.readLease(i);
      if (l && Buffer.from(l.renewHash).equals(Buffer.from(lease.renewHash))) {
        if (lease.expires > l.expires)
          this.writeLease(i, encodeMutableLease({ ...l, expires: lease.expires }));
        return;
      }
    }
    let empty = this.slots();
    for (let i = 0; i < this.slots(); i++) {
      if (this.readLease(i) === null) {
        empty = i;
        break;
      }
    }
    this.writeLease(empty, encodeMutableLease(lease));
  }

  /** What Tahoe's expirer does: cancel_lease on each expired lease (a blank record in place). Returns the leases left. */
  expire(nowSecs: number): number {
    let left = 0;
    for (let i = 0; i < this.slots(); i++) {
      const l = this.readLease(i);
      if (!l) continue;
      if (l.expires > nowSecs) left++;
      else this.writeLease(i, blankMutableLease(2));
    }
    return left;
  }
}

/** `buf` with `data` at `offset`, grown with zeros as needed. */
function setAt(buf: Uint8Array, offset: number, data: Uint8Array): Uint8Array {
  let out = buf;
  if (offset + data.length > buf.length) {
    out = new Uint8Array(offset + data.length);
    out.set(buf);
  }
  out.set(data, offset);
  return out;
}

describe('the patch plan of a mutable change', () => {
  /** A plan applied to file bytes: the first `upto` patches, then (if `resize`) the new size. */
  function applyPlan(
    file: Uint8Array,
    plan: SlotPlan,
    upto = plan.patches.length,
    resize = true,
  ): Uint8Array {
    let out: Uint8Array = file.slice();
    for (const p of plan.patches.slice(0, upto)) out = setAt(out, p.offset, p.data);
    if (!resize) return out;
    return plan.size <= out.length ? out.slice(0, plan.size) : setAt(out, plan.size, new Uint8Array(0));
  }

  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  const nodeId = new Uint8Array(20).fill(4);
  const secretArb = fc.integer({ min: 1, max: 8 }).map((n) => new Uint8Array(32).fill(n));
  const leaseArb = fc
    .record({ renew: secretArb, cancel: bytes(32, 32), expires: fc.integer({ min: 1, max: 2 ** 31 }) })
    .map((l) => newLease(l.renew, l.cancel, l.expires, nodeId));
  const writesArb = fc.array(fc.record({ offset: fc.nat(4000), data: bytes(0, 600) }), { maxLength: 5 });
  const changeArb = fc.oneof(
    fc.record({
      kind: fc.constant('write' as const),
      writes: writesArb,
      newLength: fc.option(fc.nat(5000)),
      lease: leaseArb,
    }),
    fc.record({ kind: fc.constant('lease' as const), lease: leaseArb }),
    fc.record({ kind: fc.constant('expire' as const), now: fc.integer({ min: 0, max: 2 ** 31 }) }),
  );
  const caseArb = fc.record({
    // How the old container came to be: Tahoe's own operations from a fresh one.
    history: fc.option(fc.array(changeArb, { maxLength: 8 })),
    change: changeArb,
    upto: fc.nat(30),
  });

  it("turns the old container into exactly Tahoe's new one, also when applied again after a crash", () => {
    const we = new Uint8Array(32).fill(3);
    fc.assert(
      fc.property(caseArb, (c) => {
        let share: TahoeShare | null = null;
        if (c.history) {
          share = TahoeShare.create(nodeId, we);
          for (const h of c.history) {
            if (h.kind === 'write') share.writev(h.writes, h.newLength === 0 ? null : h.newLength);
            if (h.kind !== 'expire') share.addOrRenew(h.lease);
            else if (share.expire(h.now) === 0) share.addOrRenew(newLease(we, we, 2 ** 31, nodeId));
          }
        }
        const oldFile = share ? share.f.slice() : new Uint8Array(0);
        const state: SlotState | null = share
          ? slotState(
              oldFile.subarray(0, MUTABLE_DATA_OFFSET),
              oldFile.subarray(share.extraLeaseOffset),
              oldFile.length,
            )
          : null;
        const ch = c.change;
        if (!share && ch.kind !== 'write') return; // only a write creates a container
        const expected = share ?? TahoeShare.create(nodeId, we);
        let change: SlotChange;
        if (ch.kind === 'expire') {
          const left = expected.expire(ch.now);
          if (left === 0) return; // the share would be deleted
          change = {
            writes: [],
            newLength: null,
            leases: (state as SlotState).leases.map((l) => (l && l.expires > ch.now ? l : null)),
          };
        } else {
          const newLength = ch.kind === 'write' && ch.newLength !== 0 ? ch.newLength : null;
          const writes = ch.kind === 'write' ? ch.writes : [];
          expected.writev(writes, newLength);
          expected.addOrRenew(ch.lease);
          change = { writes, newLength, leases: addOrRenewLease(state ? state.leases : [], ch.lease).leases };
        }
        const plan = planSlotChange(state, { nodeId, writeEnabler: we }, change);

        const result = applyPlan(oldFile, plan);
        expect(Buffer.from(result).equals(Buffer.from(expected.f))).toBe(true);
        expect(plan.growth).toBe(Math.max(0, expected.f.length - oldFile.length));
        // Replayed after a crash part way through, or after it finished: the same result.
        const partial = applyPlan(oldFile, plan, c.upto % (plan.patches.length + 1), false);
        expect(Buffer.from(applyPlan(partial, plan)).equals(Buffer.from(expected.f))).toBe(true);
        expect(Buffer.from(applyPlan(result, plan)).equals(Buffer.from(expected.f))).toBe(true);
        // It costs what it touches: the writes, the old and new lease blocks, the header.
        const written = plan.patches.reduce((n, p) => n + p.data.length, 0);
        const touched =
          change.writes.reduce((n, w) => n + w.data.length, 0) +
          (state
            ? state.tailBytes.length + state.fileSize - MUTABLE_DATA_OFFSET - state.header.dataLength
            : 0) +
          4 +
          Math.max(0, change.leases.length - 4) * 92 +
          MUTABLE_DATA_OFFSET;
        expect(written).toBeLessThanOrEqual(touched);

        // Cut in two for an object store (mutable-split.ts): joined, the parts are the
        // container again, and a change of leases alone leaves the share part as it was.
        const parts = splitMutable(result);
        if (!parts) throw new Error('a container did not split');
        expect(Buffer.from(joinMutable(parts.share, parts.leases) ?? []).equals(Buffer.from(result))).toBe(
          true,
        );
        const before = share ? splitMutable(oldFile) : null;
        if (before && ch.kind !== 'write') expect(parts.share).toEqual(before.share);
      }),
      { numRuns: 2000 },
    );
  });

  it('cuts only whole containers in two, and reads a missing lease part as no leases', () => {
    const we = new Uint8Array(32).fill(3);
    const share = TahoeShare.create(nodeId, we);
    share.writev([{ offset: 0, data: new Uint8Array(700).fill(9) }], null);
    for (let i = 1; i <= 6; i++) share.addOrRenew(newLease(new Uint8Array(32).fill(i), we, 2 ** 30, nodeId));
    const parts = splitMutable(share.f);
    if (!parts) throw new Error('a container did not split');
    // Four slots in the header, two in the extra block after the data.
    expect(parts.leases.length).toBe(4 * 92 + 4 + 2 * 92);
    expect(parts.share.length).toBe(100 + 700);
    const bare = joinMutable(parts.share, null);
    if (!bare) throw new Error('no container without leases');
    const state = slotState(
      bare.subarray(0, MUTABLE_DATA_OFFSET),
      bare.subarray(MUTABLE_DATA_OFFSET + 700),
      bare.length,
    );
    expect(state.leases.filter((l) => l !== null)).toEqual([]);
    expect(bare.subarray(MUTABLE_DATA_OFFSET)).toEqual(
      share.f.subarray(MUTABLE_DATA_OFFSET, MUTABLE_DATA_OFFSET + 700),
    );
    // Not containers: too short, another kind, an extra-lease offset past the end.
    expect(splitMutable(share.f.subarray(0, MUTABLE_DATA_OFFSET - 1))).toBeNull();
    expect(splitMutable(new Uint8Array(1000))).toBeNull();
    const cut = share.f.slice(0, MUTABLE_DATA_OFFSET + 699);
    expect(splitMutable(cut)).toBeNull();
    expect(joinMutable(parts.share.subarray(0, 99), parts.leases)).toBeNull();
    expect(joinMutable(parts.share, parts.leases.subarray(0, 367))).toBeNull();
  });
});

describe('mutable containers changed in place', () => {
  it("are byte for byte what Tahoe's MutableShareFile makes, after every operation", async () => {
    const writeArb = fc.record({
      offset: fc.integer({ min: 0, max: 6000 }),
      data: fc.uint8Array({ minLength: 0, maxLength: 900 }),
    });
    const opArb = fc.record({
      sh: fc.integer({ min: 0, max: 2 }),
      write: fc.array(writeArb, { maxLength: 4 }),
      newLength: fc.oneof(
        { weight: 6, arbitrary: fc.constant(null) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 7000 }) },
        { weight: 1, arbitrary: fc.constant(0) },
      ),
      renewer: fc.integer({ min: 0, max: 11 }),
      leaseOnly: fc.boolean(),
    });
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 16 }), async (ops) => {
        const dir = tempDir('cairn-mut-');
        let t = T0;
        const server = await startServer(new DiskBackend(dir), () => t);
        const si = asStorageIndex(rand(16));
        const we = rand(32);
        const nodeId = new Uint8Array(20).fill(7);
        const renewers = Array.from({ length: 12 }, () => ({ renew: rand(32), cancel: rand(32) }));
        const model = new Map<number, TahoeShare>();
        try {
          for (const op of ops) {
            t += 1000;
            const who = renewers[op.renewer];
            const lease = newLease(who.renew, who.cancel, Math.floor((t + LEASE_DURATION_MS) / 1000), nodeId);
            if (op.leaseOnly) {
              const had = model.size > 0;
              const r = server.addLease({ si, ...who });
              if (!had) {
                await expect(r).rejects.toMatchObject({ code: 'NOT_FOUND' });
                continue;
              }
              await r;
              for (const m of model.values()) m.addOrRenew(lease);
            } else {
              const tw: ShareTestWrite = { test: [], write: op.write, newLength: op.newLength };
              const r = await server.readTestWrite({
                si,
                writeEnabler: we,
                ...who,
                testWrite: new Map([[sh(op.sh), tw]]),
                readVector: [{ offset: 0, size: 10_000 }],
              });
              expect(r.success).toBe(true);
              for (const [n, m] of model) expect(r.data.get(sh(n))).toEqual([m.data().subarray(0, 10_000)]);
              if (op.newLength === 0) {
                model.delete(op.sh);
              } else {
                const m = model.get(op.sh) ?? TahoeShare.create(nodeId, we);
                m.writev(op.write, op.newLength);
                m.addOrRenew(lease);
                model.set(op.sh, m);
              }
            }
            expect(await server.listMutable(si)).toEqual([...model.keys()].sort());
            for (let n = 0; n < 3; n++) {
              const m = model.get(n);
              const onDisk = await readOrNull(sharePath(dir, si, n));
              if (!m) expect(onDisk).toBeNull();
              else expect(Buffer.from(onDisk!).equals(Buffer.from(m.f))).toBe(true);
            }
          }
        } finally {
          await server.stop();
          runs++;
        }
      }),
      { numRuns: 25 },
    );
    expect(runs).toBeGreaterThanOrEqual(25);
  });
});

describe('what a mutable write costs', () => {
  it('stays flat as the share grows: the bytes written follow the bytes changed', async () => {
    let written = 0;
    const dir = tempDir('cairn-cost-');
    const server = await startServer(
      new ObservedBackend(new DiskBackend(dir), async (_op, n) => {
        written += n;
      }),
    );
    const si = asStorageIndex(rand(16));
    const secrets = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    const chunk = 64 * 1024;
    const first = rand(32);
    // A publish-like sequence: each call tests the checkstring and appends a block.
    const costs: number[] = [];
    for (let i = 0; i < 128; i++) {
      written = 0;
      const r = await server.readTestWrite({
        si,
        ...secrets,
        testWrite: new Map([
          [
            sh(0),
            {
              test: i === 0 ? [] : [{ offset: 0, size: 32, specimen: first }],
              write:
                i === 0
                  ? [{ offset: 0, data: concatBytes(first, rand(chunk - 32)) }]
                  : [{ offset: i * chunk, data: rand(chunk) }],
              newLength: null,
            },
          ],
        ]),
        readVector: [],
      });
      expect(r.success).toBe(true);
      costs.push(written);
    }
    const size = (await fs.stat(sharePath(dir, si, 0))).size;
    expect(size).toBeGreaterThan(128 * chunk);
    const small = costs[1];
    const large = costs[127];
    console.log(
      `bytes written per 64 KiB append: ${small} at a 128 KiB share, ${large} at an 8 MiB share ` +
        `(${(large / chunk).toFixed(3)}× the bytes appended)`,
    );
    // Journal + the data in place + a few header and lease bytes: about twice the write.
    expect(small).toBeLessThan(2 * chunk + 1024);
    expect(large).toBeLessThanOrEqual(small + 64);

    // A lease on the 8 MiB share costs a few hundred bytes, not a copy of it: in a header
    // slot or appended to the extra-lease block, up to the cap.
    const leaseCosts: number[] = [];
    for (let i = 0; i < 63; i++) {
      written = 0;
      await server.addLease({ si, renew: rand(32), cancel: rand(32) });
      leaseCosts.push(written);
    }
    expect(Math.max(...leaseCosts)).toBeLessThan(400);
    await server.stop();
  });
});

describe('a crash while a mutable write is applied', () => {
  const si = asStorageIndex(new Uint8Array(16).fill(9));
  const we = new Uint8Array(32).fill(1);
  const renew = (n: number) => ({
    renew: new Uint8Array(32).fill(n),
    cancel: new Uint8Array(32).fill(n + 100),
  });

  /** Version A: shares 0 and 1 with data and six leases (so an extra-lease block). */
  async function makeVersionA(dir: string): Promise<void> {
    const server = await startServer(new DiskBackend(dir));
    const fill = (n: number, len: number) => new Uint8Array(len).fill(n);
    await server.readTestWrite({
      si,
      writeEnabler: we,
      ...renew(1),
      testWrite: new Map([
        [sh(0), { test: [], write: [{ offset: 0, data: fill(0xa0, 3000) }], newLength: null }],
        [sh(1), { test: [], write: [{ offset: 0, data: fill(0xa1, 3000) }], newLength: null }],
      ]),
      readVector: [],
    });
    for (let n = 2; n <= 6; n++) await server.addLease({ si, ...renew(n) });
    await server.stop();
  }

  /** Version B, from A: rewrite and grow share 0, shrink share 1, create share 2, a new lease. */
  const changeB = () => ({
    si,
    writeEnabler: we,
    ...renew(50),
    testWrite: new Map<ShareNum, ShareTestWrite>([
      [
        sh(0),
        {
          test: [{ offset: 0, size: 4, specimen: new Uint8Array(4).fill(0xa0) }],
          write: [
            { offset: 1000, data: new Uint8Array(500).fill(0xb0) },
            { offset: 3200, data: new Uint8Array(2000).fill(0xb0) },
          ],
          newLength: null,
        },
      ],
      [sh(1), { test: [], write: [{ offset: 500, data: new Uint8Array(100).fill(0xb1) }], newLength: 1000 }],
      [sh(2), { test: [], write: [{ offset: 0, data: new Uint8Array(800).fill(0xb2) }], newLength: null }],
    ]),
    readVector: [],
  });

  /**
   * The slot's shares as readers see them: each container up to the end of its extra-lease
   * block (with `whole`, every byte of the files: a crash may leave bytes past that end).
   */
  async function slotFiles(dir: string, whole = false): Promise<string> {
    const parts: string[] = [];
    for (let n = 0; n < 3; n++) {
      const b = await readOrNull(sharePath(dir, si, n));
      if (!b) {
        parts.push('-');
        continue;
      }
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const extra = b.length >= 100 ? Number(v.getBigUint64(92)) : b.length;
      const end = extra + 4 <= b.length ? extra + 4 + v.getUint32(extra) * 92 : b.length;
      parts.push(Buffer.from(whole ? b : b.subarray(0, end)).toString('hex'));
    }
    return parts.join('/');
  }

  /** Version C, from B: share 0 grows and is overwritten at its start, share 2 rewritten. */
  const changeC = () => ({
    si,
    writeEnabler: we,
    ...renew(51),
    testWrite: new Map<ShareNum, ShareTestWrite>([
      [
        sh(0),
        {
          test: [],
          write: [
            { offset: 100, data: new Uint8Array(50).fill(0xc0) },
            { offset: 5200, data: new Uint8Array(3000).fill(0xc0) },
          ],
          newLength: null,
        },
      ],
      [sh(2), { test: [], write: [{ offset: 0, data: new Uint8Array(100).fill(0xc2) }], newLength: null }],
    ]),
    readVector: [],
  });

  type Change = ReturnType<typeof changeB>;

  /**
   * From version A on disk, `before` made whole (if given), then `change` stopped dead at
   * each of its steps in turn (and once just after it returned), each time followed by a
   * power cut (every share write not yet fsynced lost) and a restart on the same folder.
   * Returns what each restart found (`old`: the slot after `before`, `new`: after `change`,
   * else `mix`), how many stops left the files half changed, and the files themselves.
   */
  async function stopEverywhere(before: Change | null, change: Change) {
    const base = tempDir('cairn-crash-');
    await makeVersionA(base);
    // The reference run: the versions, and the steps of the change alone.
    const ref = tempDir('cairn-crash-');
    await fs.cp(base, ref, { recursive: true });
    let steps = 0;
    let counting = false;
    const refServer = await startServer(
      new ObservedBackend(new DiskBackend(ref), async () => {
        if (counting) steps++;
      }),
    );
    if (before) expect((await refServer.readTestWrite(before)).success).toBe(true);
    const old = await slotFiles(ref);
    const oldWhole = await slotFiles(ref, true);
    counting = true;
    expect((await refServer.readTestWrite(change)).success).toBe(true);
    counting = false;
    await refServer.stop();
    const neu = await slotFiles(ref);
    const newWhole = await slotFiles(ref, true);
    expect(neu).not.toBe(old);

    const outcomes: string[] = [];
    let mixedOnDisk = 0;
    for (let stopAt = 1; stopAt <= steps + 1; stopAt++) {
      const dir = tempDir('cairn-crash-');
      await fs.cp(base, dir, { recursive: true });
      let n = 0;
      let armed = false;
      let reached!: () => void;
      const stopped = new Promise<void>((r) => {
        reached = r;
      });
      const disk = new DiskBackend(dir);
      const observed = new ObservedBackend(disk, () => {
        if (!armed || ++n < stopAt) return Promise.resolve();
        reached();
        return new Promise<void>(() => {}); // the process is gone: nothing after this runs
      });
      const doomed = await startServer(observed);
      if (before) expect((await doomed.readTestWrite(before)).success).toBe(true);
      armed = true;
      const result = await Promise.race([
        doomed.readTestWrite(change).then(() => 'done'),
        stopped.then(() => 'stopped'),
      ]);
      expect(result).toBe(stopAt <= steps ? 'stopped' : 'done');
      await disk.handles.closeAll(); // what the kernel does for a killed process
      await observed.powerCut();
      const onDisk = await slotFiles(dir, true);
      if (onDisk !== oldWhole && onDisk !== newWhole) mixedOnDisk++;
      // Restart on the same folder: the journal is replayed (or was never written).
      const again = await startServer(new DiskBackend(dir));
      const after = await slotFiles(dir);
      outcomes.push(after === old ? 'old' : after === neu ? 'new' : 'mix');
      expect(await fs.readdir(path.join(dir, 'storage', 'journal'))).toEqual([]);
      // The writer tries again: from the old version, its change then leaves exactly the
      // new files, bytes a crash left past a share's end included.
      if (after === old) {
        expect((await again.readTestWrite(change)).success).toBe(true);
        expect(await slotFiles(dir, true), `retried after a stop at step ${stopAt}`).toBe(newWhole);
      }
      await again.stop();
    }
    return { outcomes, steps, mixedOnDisk };
  }

  it('leaves the slot old or new after a restart, at every point it can stop, power cut included', async () => {
    const { outcomes, steps, mixedOnDisk } = await stopEverywhere(null, changeB());
    expect(steps).toBeGreaterThan(10);
    // Stopped before the journal was stored: old (though bytes past a share's end, written
    // before it, may be there); after: new, also when the power went before the change's
    // last fsync (put off while the journal stays). Never a mix, though the files on disk were
    // half changed at many of these points.
    const olds = outcomes.indexOf('new');
    expect(olds).toBeGreaterThan(1); // the appends, then the journal: both before any new
    expect(outcomes).toEqual([...Array(olds).fill('old'), ...Array(steps + 1 - olds).fill('new')]);
    expect(mixedOnDisk).toBeGreaterThan(5);
  });

  it('keeps the last change when the next one, made while its fsync is put off, is cut at any point', async () => {
    const { outcomes, steps, mixedOnDisk } = await stopEverywhere(changeB(), changeC());
    const olds = outcomes.indexOf('new');
    expect(olds).toBeGreaterThan(1);
    expect(outcomes).toEqual([...Array(olds).fill('old'), ...Array(steps + 1 - olds).fill('new')]);
    expect(mixedOnDisk).toBeGreaterThan(2);
  });

  it('makes an idle slot durable a moment after its last change: the journal goes by itself', async () => {
    const dir = tempDir('cairn-linger-');
    await makeVersionA(dir);
    let syncs = 0;
    const server = await startServer(
      new ObservedBackend(new DiskBackend(dir), async (op) => {
        if (op === 'sync') syncs++;
      }),
    );
    expect((await server.readTestWrite(changeB())).success).toBe(true);
    const journalDir = path.join(dir, 'storage', 'journal');
    expect(await fs.readdir(journalDir)).toHaveLength(1); // its fsync put off, the journal stays
    const synced = syncs;
    const deadline = Date.now() + 10_000;
    while ((await fs.readdir(journalDir)).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await fs.readdir(journalDir)).toEqual([]);
    expect(syncs).toBeGreaterThan(synced); // the shares were fsynced before it went
    await server.stop();
  });

  it('never reads bytes a crash left past a share end as data: a write leaving a gap there reads zeros', async () => {
    // Two identical slots, one with what a stop between the appends and the journal leaves:
    // garbage past the end of share 0's container.
    const [clean, crashed] = [tempDir('cairn-gap-'), tempDir('cairn-gap-')];
    for (const d of [clean, crashed]) await makeVersionA(d);
    await fs.appendFile(sharePath(crashed, si, 0), new Uint8Array(5000).fill(0xee));
    const files: string[] = [];
    for (const d of [clean, crashed]) {
      const server = await startServer(new DiskBackend(d));
      const r = await server.readTestWrite({
        si,
        writeEnabler: we,
        ...renew(60),
        testWrite: new Map([
          [
            sh(0),
            { test: [], write: [{ offset: 6000, data: new Uint8Array(10).fill(0xc0) }], newLength: null },
          ],
        ]),
        readVector: [],
      });
      expect(r.success).toBe(true);
      expect(await server.readMutable({ si, sh: sh(0), offset: 3000, length: 3000 })).toEqual(
        new Uint8Array(3000),
      );
      await server.stop();
      files.push(await slotFiles(d, true));
    }
    expect(files[1]).toBe(files[0]);
  });

  it('finishes a change that failed half way (an I/O error) before the slot is read again', async () => {
    const dir = tempDir('cairn-eio-');
    await makeVersionA(dir);
    const versionA = await slotFiles(dir);
    const ref = tempDir('cairn-eio-');
    await fs.cp(dir, ref, { recursive: true });
    const refServer = await startServer(new DiskBackend(ref));
    await refServer.readTestWrite(changeB());
    await refServer.stop();
    const versionB = await slotFiles(ref);

    // The second step after the journal is stored fails.
    let afterJournal = -1;
    const server = await startServer(
      new ObservedBackend(new DiskBackend(dir), async (op) => {
        if (op === 'journal') afterJournal = 0;
        else if (afterJournal >= 0 && ++afterJournal === 2)
          throw Object.assign(new Error('input/output error'), { code: 'EIO' });
      }),
    );
    await expect(server.readTestWrite(changeB())).rejects.toThrow('input/output error');
    const half = await slotFiles(dir);
    expect(half !== versionA && half !== versionB).toBe(true); // half applied on disk
    // The next read replays the journal first: it sees the whole change.
    expect(await server.readMutable({ si, sh: sh(2), offset: 0, length: 10 })).toEqual(
      new Uint8Array(10).fill(0xb2),
    );
    expect(await slotFiles(dir)).toBe(versionB);
    expect(await fs.readdir(path.join(dir, 'storage', 'journal'))).toEqual([]);
    await server.stop();
  });

  it('discards a journal torn while it was written, leaving the slot as it was', async () => {
    const dir = tempDir('cairn-torn-');
    await makeVersionA(dir);
    const versionA = await slotFiles(dir);
    const journal = encodeJournal([
      { sh: sh(0), kind: 'patch', size: 10, patches: [{ offset: 0, data: rand(400) }] },
    ]);
    expect(decodeJournal(journal)).not.toBeNull();
    const torn = journal.subarray(0, journal.length - 50);
    expect(decodeJournal(torn)).toBeNull();
    await fs.writeFile(path.join(dir, 'storage', 'journal', base32Encode(si)), torn);
    const server = await startServer(new DiskBackend(dir));
    expect(await slotFiles(dir)).toBe(versionA);
    expect(await fs.readdir(path.join(dir, 'storage', 'journal'))).toEqual([]);
    await server.stop();
  });
});
