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
import type { PendingShare, ShareBackend, ShareFile } from '../../server/backend.ts';
import {
  encodeExtraLeases,
  encodeMutableHeader,
  type Lease,
  MUTABLE_DATA_OFFSET,
  newLease,
} from '../../server/containers.ts';
import { DiskBackend } from '../../server/disk-backend.ts';
import { decodeJournal, encodeJournal } from '../../server/journal.ts';
import { addOrRenewLease } from '../../server/leases.ts';
import { planSlotChange, type SlotPlan, type SlotState, slotState } from '../../server/mutable-plan.ts';
import { LEASE_DURATION_MS, StorageServer } from '../../server/storage-server.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const sh = (n: number) => asShareNum(n);
afterAll(() => cleanup());

type Op = 'write' | 'truncate' | 'sync' | 'journal' | 'unjournal' | 'delete' | 'commit';

/**
 * A DiskBackend whose changes pass through `before(op, bytes)` first: to count bytes
 * written, or to stop the server dead (a promise that never settles) as a kill would.
 */
class ObservedBackend implements ShareBackend {
  constructor(
    readonly disk: DiskBackend,
    private readonly before: (op: Op, bytes: number) => Promise<void>,
  ) {}

  private file(f: ShareFile): ShareFile {
    return {
      read: (p, n) => f.read(p, n),
      readInto: (p, t) => f.readInto(p, t),
      size: () => f.size(),
      close: () => f.close(),
      write: async (p, d) => {
        await this.before('write', d.length);
        await f.write(p, d);
      },
      truncate: async (n) => {
        await this.before('truncate', 0);
        await f.truncate(n);
      },
      sync: async () => {
        await this.before('sync', 0);
        await f.sync();
      },
    };
  }

  init = () => this.disk.init();
  recoverUploads = () => this.disk.recoverUploads();
  close = () => this.disk.close();
  freeBytes = () => this.disk.freeBytes();
  listStorageIndexes = () => this.disk.listStorageIndexes();
  listShares: ShareBackend['listShares'] = (k, si) => this.disk.listShares(k, si);
  openShare: ShareBackend['openShare'] = async (k, si, n, w) => {
    const f = await this.disk.openShare(k, si, n, w);
    return f && this.file(f);
  };
  openOrCreateMutable: ShareBackend['openOrCreateMutable'] = async (si, n) =>
    this.file(await this.disk.openOrCreateMutable(si, n));
  createPending(si: StorageIndex, n: ShareNum): PendingShare {
    const p = this.disk.createPending(si, n);
    return {
      file: this.file(p.file),
      commit: async () => {
        await this.before('commit', 0);
        await p.commit();
      },
      discard: () => p.discard(),
      checkpoint: (state) => p.checkpoint(state),
      release: () => p.release(),
    };
  }
  deleteShare: ShareBackend['deleteShare'] = async (k, si, n) => {
    await this.before('delete', 0);
    await this.disk.deleteShare(k, si, n);
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

// ---- the reference: a whole container built from scratch ------------------------------

interface ModelShare {
  data: Uint8Array;
  leases: Lease[];
}

/** Tahoe's semantics (§7.3): writes in order, gaps zero-filled, then cut to the new length. */
function applyWrites(data: Uint8Array, writes: WriteVector[], newLength: number | null): Uint8Array {
  let out: Uint8Array = data.slice();
  for (const w of writes) out = setAt(out, w.offset, w.data);
  return newLength !== null && newLength < out.length ? out.slice(0, newLength) : out;
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

function modelApply(m: ModelShare | undefined, tw: ShareTestWrite, lease: Lease): ModelShare | undefined {
  if (tw.newLength === 0) return undefined;
  return {
    data: applyWrites(m ? m.data : new Uint8Array(0), tw.write, tw.newLength),
    leases: addOrRenewLease(m ? m.leases : [], lease).leases,
  };
}

function modelBytes(
  m: ModelShare,
  writeEnabler: Uint8Array,
  nodeId = new Uint8Array(20).fill(7),
): Uint8Array {
  const header = encodeMutableHeader({
    nodeId,
    writeEnabler,
    dataLength: m.data.length,
    extraLeaseOffset: MUTABLE_DATA_OFFSET + m.data.length,
    slots: m.leases.slice(0, 4),
  });
  return concatBytes(header, m.data, encodeExtraLeases(m.leases.slice(4)));
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
  const leaseArb = fc.record({
    owner: fc.constant(0),
    renewHash: bytes(32, 32),
    cancelHash: bytes(32, 32),
    expires: fc.integer({ min: 1, max: 2 ** 31 }),
    nodeId: bytes(20, 20),
  });
  const writesArb = fc.array(fc.record({ offset: fc.nat(4000), data: bytes(0, 600) }), { maxLength: 5 });
  const caseArb = fc.record({
    old: fc.option(
      fc.record({
        data: bytes(0, 3000),
        leases: fc.array(leaseArb, { maxLength: 10 }),
        // Tahoe cuts data by its length field alone, leaving the old bytes and extra leases
        // further on: containers it wrote may look like that.
        cutBy: fc.nat(400),
      }),
    ),
    writes: writesArb,
    newLength: fc.option(fc.nat(5000)),
    keep: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
    renewed: fc.array(fc.integer({ min: 1, max: 2 ** 31 }), { minLength: 10, maxLength: 10 }),
    added: fc.array(leaseArb, { maxLength: 3 }),
    upto: fc.nat(30),
  });

  it('turns the old container into exactly the new one, also when applied again after a crash', () => {
    const we = new Uint8Array(32).fill(3);
    const nodeId = new Uint8Array(20).fill(4);
    fc.assert(
      fc.property(caseArb, (c) => {
        let oldFile = new Uint8Array(0);
        let state: SlotState | null = null;
        let oldModel: ModelShare = { data: new Uint8Array(0), leases: [] };
        if (c.old) {
          const cut = Math.min(c.old.cutBy, c.old.data.length);
          const full = modelBytes({ data: c.old.data, leases: c.old.leases }, we, nodeId);
          oldFile = full.slice();
          new DataView(oldFile.buffer).setBigUint64(84, BigInt(c.old.data.length - cut));
          oldModel = { data: c.old.data.slice(0, c.old.data.length - cut), leases: c.old.leases };
          const tailAt = MUTABLE_DATA_OFFSET + c.old.data.length;
          state = slotState(
            oldFile.subarray(0, MUTABLE_DATA_OFFSET),
            oldFile.subarray(tailAt),
            oldFile.length,
          );
        }
        const leases = [
          ...oldModel.leases.map((l, i) => ({ ...l, expires: c.renewed[i] })).filter((_, i) => c.keep[i]),
          ...c.added,
        ];
        const newLength = c.newLength === 0 ? null : c.newLength;
        const plan = planSlotChange(
          state,
          { nodeId, writeEnabler: we },
          { writes: c.writes, newLength, leases },
        );
        const expected = modelBytes(
          { data: applyWrites(oldModel.data, c.writes, newLength), leases },
          we,
          nodeId,
        );

        const result = applyPlan(oldFile, plan);
        expect(Buffer.from(result).equals(Buffer.from(expected))).toBe(true);
        expect(plan.growth).toBe(Math.max(0, expected.length - oldFile.length));
        // Replayed after a crash part way through, or after it finished: the same result.
        const partial = applyPlan(oldFile, plan, c.upto % (plan.patches.length + 1), false);
        expect(Buffer.from(applyPlan(partial, plan)).equals(Buffer.from(expected))).toBe(true);
        expect(Buffer.from(applyPlan(result, plan)).equals(Buffer.from(expected))).toBe(true);
        // It costs what it touches: the writes, the old and new lease blocks, the header.
        const written = plan.patches.reduce((n, p) => n + p.data.length, 0);
        const touched =
          c.writes.reduce((n, w) => n + w.data.length, 0) +
          (state
            ? state.tailBytes.length + state.fileSize - MUTABLE_DATA_OFFSET - state.header.dataLength
            : 0) +
          4 +
          Math.max(0, leases.length - 4) * 92 +
          MUTABLE_DATA_OFFSET;
        expect(written).toBeLessThanOrEqual(touched);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('mutable containers changed in place', () => {
  it('are byte for byte what a whole rewrite would make, after every operation', async () => {
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
        const renewers = Array.from({ length: 12 }, () => ({ renew: rand(32), cancel: rand(32) }));
        const model = new Map<number, ModelShare>();
        try {
          for (const op of ops) {
            t += 1000;
            const who = renewers[op.renewer];
            const lease = newLease(
              who.renew,
              who.cancel,
              Math.floor((t + LEASE_DURATION_MS) / 1000),
              new Uint8Array(20).fill(7),
            );
            if (op.leaseOnly) {
              const had = model.size > 0;
              const r = server.addLease({ si, ...who });
              if (!had) {
                await expect(r).rejects.toMatchObject({ code: 'NOT_FOUND' });
                continue;
              }
              await r;
              for (const [n, m] of model)
                model.set(n, { ...m, leases: addOrRenewLease(m.leases, lease).leases });
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
              for (const [n, m] of model) expect(r.data.get(sh(n))).toEqual([m.data.subarray(0, 10_000)]);
              const next = modelApply(model.get(op.sh), tw, lease);
              if (next) model.set(op.sh, next);
              else model.delete(op.sh);
            }
            expect(await server.listMutable(si)).toEqual([...model.keys()].sort());
            for (let n = 0; n < 3; n++) {
              const m = model.get(n);
              const onDisk = await readOrNull(sharePath(dir, si, n));
              if (!m) expect(onDisk).toBeNull();
              else expect(Buffer.from(onDisk!).equals(Buffer.from(modelBytes(m, we)))).toBe(true);
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

  async function slotFiles(dir: string): Promise<string> {
    const parts: string[] = [];
    for (let n = 0; n < 3; n++) {
      const b = await readOrNull(sharePath(dir, si, n));
      parts.push(b ? Buffer.from(b).toString('hex') : '-');
    }
    return parts.join('/');
  }

  it('leaves the slot old or new after a restart, at every point it can stop', async () => {
    const base = tempDir('cairn-crash-');
    await makeVersionA(base);
    const versionA = await slotFiles(base);
    // The reference run, counting the steps of the change.
    const ref = tempDir('cairn-crash-');
    await fs.cp(base, ref, { recursive: true });
    let steps = 0;
    const refServer = await startServer(
      new ObservedBackend(new DiskBackend(ref), async () => {
        steps++;
      }),
    );
    expect((await refServer.readTestWrite(changeB())).success).toBe(true);
    await refServer.stop();
    const versionB = await slotFiles(ref);
    expect(versionB).not.toBe(versionA);
    expect(steps).toBeGreaterThan(10);

    const outcomes: string[] = [];
    let mixedOnDisk = 0;
    for (let stopAt = 1; stopAt <= steps; stopAt++) {
      const dir = tempDir('cairn-crash-');
      await fs.cp(base, dir, { recursive: true });
      let n = 0;
      let reached!: () => void;
      const stopped = new Promise<void>((r) => {
        reached = r;
      });
      const disk = new DiskBackend(dir);
      const doomed = await startServer(
        new ObservedBackend(disk, () => {
          if (++n < stopAt) return Promise.resolve();
          reached();
          return new Promise<void>(() => {}); // the process is gone: nothing after this runs
        }),
      );
      const result = await Promise.race([
        doomed.readTestWrite(changeB()).then(() => 'done'),
        stopped.then(() => 'stopped'),
      ]);
      expect(result).toBe('stopped');
      await disk.handles.closeAll(); // what the kernel does for a killed process
      const before = await slotFiles(dir);
      if (before !== versionA && before !== versionB) mixedOnDisk++;
      // Restart on the same folder: the journal is replayed (or was never written).
      const again = await startServer(new DiskBackend(dir));
      const after = await slotFiles(dir);
      outcomes.push(after === versionA ? 'A' : after === versionB ? 'B' : 'mix');
      expect(await fs.readdir(path.join(dir, 'storage', 'journal'))).toEqual([]);
      await again.stop();
    }
    // Stopped before the journal was stored: old; after: new. Never a mix, though the
    // files on disk were half changed at many of these points.
    expect(outcomes).toEqual(['A', ...Array(steps - 1).fill('B')]);
    expect(mixedOnDisk).toBeGreaterThan(5);
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

    let n = 0;
    const server = await startServer(
      new ObservedBackend(new DiskBackend(dir), async () => {
        if (++n === 6) throw Object.assign(new Error('input/output error'), { code: 'EIO' });
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
