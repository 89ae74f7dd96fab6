/**
 * Lease expiry (server/expiry.ts) through the lease crawler, on a real StorageServer and
 * DiskBackend in temp folders with a clock the test moves: which shares go (exactly those
 * whose every lease expired under the mode), which stay (one live lease, an upload of the
 * same share in progress, no lease at all, a container that cannot be read), a dry run that
 * changes nothing and counts the same, and the space figures checked against the folder.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/command.ts';
import { expiryOptions, serverCommand } from '../../cli/commands/server.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, type StorageIndex } from '../../core/types.ts';
import { encodeImmutableHeader, encodeMutableHeader, MUTABLE_DATA_OFFSET } from '../../server/containers.ts';
import {
  LEASE_SECONDS,
  leaseExpired,
  modeText,
  parseCutoffDate,
  parseDuration,
  parseExpiryMode,
  totalOf,
} from '../../server/expiry.ts';
import { LEASE_DURATION_MS } from '../../server/storage-server.ts';
import { cleanup } from '../harness/grid.ts';
import {
  bytesOf,
  DAY,
  digest,
  makeCrawler,
  makeRig,
  newSi,
  pathsOf,
  putImmutable,
  putMutable,
  type Rig,
  rand,
  runUntilCycleDone,
  shareFiles,
} from './crawl-harness.ts';

afterAll(() => cleanup());

const T0 = Date.UTC(2025, 2, 10, 12); // 2025-03-10 12:00 UTC

function sharePath(si: StorageIndex, sh: number, tree = 'shares'): string {
  const b = base32Encode(si);
  return path.join(tree, b.slice(0, 2), b, String(sh));
}

describe('expiry modes', () => {
  it('read durations and dates as Tahoe does, and judge leases by their grant time (expiry − 31 days)', () => {
    expect(LEASE_SECONDS * 1000).toBe(LEASE_DURATION_MS);
    expect(parseDuration('30days')).toBe(30 * 86400);
    expect(parseDuration('1 day')).toBe(86400);
    expect(parseDuration('2mo')).toBe(62 * 86400);
    expect(parseDuration('3 Months')).toBe(93 * 86400);
    expect(parseDuration('1year')).toBe(365 * 86400);
    expect(parseDuration('3600s')).toBe(3600);
    expect(parseDuration('5 seconds')).toBe(5);
    expect(parseDuration('2w')).toBe(14 * 86400);
    expect(parseDuration('30d')).toBe(30 * 86400);
    expect(parseDuration('12h')).toBe(12 * 3600);
    for (const bad of ['', '30', 'days', '1m', '-1days', '1.5days', '3 fortnights'])
      expect(() => parseDuration(bad)).toThrow(/not a duration/);
    expect(parseCutoffDate('2025-01-31')).toBe(Date.UTC(2025, 0, 31) / 1000);
    for (const bad of ['2025-02-30', '2025-1-31', '31/01/2025', '2025-13-01', ''])
      expect(() => parseCutoffDate(bad)).toThrow(/not a date/);

    for (const text of ['age', 'age:30days', 'age:3600s', 'cutoff-date:2025-01-31'])
      expect(modeText(parseExpiryMode(text))).toBe(text);
    expect(modeText(parseExpiryMode('age:2mo'))).toBe('age:62days');
    for (const bad of ['ages', 'age:', 'age:0s', 'cutoff-date:', 'cutoff:2025-01-01', 'AGE'])
      expect(() => parseExpiryMode(bad)).toThrow();

    const now = T0 / 1000;
    const grantedDaysAgo = (d: number) => now - d * 86400 + LEASE_SECONDS;
    const age20 = parseExpiryMode('age:20days');
    expect(leaseExpired(grantedDaysAgo(21), age20, now)).toBe(true);
    expect(leaseExpired(grantedDaysAgo(19), age20, now)).toBe(false);
    // By its own expiry: out after 31 days, not before.
    expect(leaseExpired(grantedDaysAgo(31) - 1, parseExpiryMode('age'), now)).toBe(true);
    expect(leaseExpired(grantedDaysAgo(30), parseExpiryMode('age'), now)).toBe(false);
    expect(leaseExpired(grantedDaysAgo(30), null, now)).toBe(false);
    const cutoff = parseExpiryMode('cutoff-date:2025-03-01');
    const at = Date.UTC(2025, 2, 1) / 1000;
    expect(leaseExpired(at - 1 + LEASE_SECONDS, cutoff, now)).toBe(true);
    expect(leaseExpired(at + LEASE_SECONDS, cutoff, now)).toBe(false);
  });

  it('are given on the command line, checked before anything starts', async () => {
    expect(expiryOptions(undefined, false)).toEqual({ mode: null, dryRun: false });
    expect(expiryOptions('age:60days', true)).toEqual({
      mode: { kind: 'age', seconds: 60 * 86400 },
      dryRun: true,
    });
    expect(() => expiryOptions(undefined, true)).toThrow(/--expire-dry-run needs --expire-leases/);
    expect(() => expiryOptions('age:soon', false)).toThrow(UsageError);
    expect(() => expiryOptions('cutoff-date:2025-03-11', false, T0)).toThrow(/in the future/);
    expect(expiryOptions('cutoff-date:2025-03-10', false, T0).mode).toEqual({
      kind: 'cutoff-date',
      cutoff: Date.UTC(2025, 2, 10) / 1000,
    });
    const run = (...a: string[]) => serverCommand.run(['--dir', '/nonexistent/x', '--port', '0', ...a]);
    await expect(run('--expire-leases')).rejects.toThrow(UsageError);
    await expect(run('--expire-leases', 'sometimes')).rejects.toThrow(/--expire-leases: 'sometimes' is not/);
    await expect(run('--expire-dry-run')).rejects.toThrow(/needs --expire-leases/);
    await expect(run('--crawl-rate', '0')).rejects.toThrow(/--crawl-rate/);
    await expect(run('--crawl-delay', 'soon')).rejects.toThrow(/--crawl-delay/);
    await expect(run('--crawl-delay', '8days')).rejects.toThrow(/at most 7 days/);
  });
});

/**
 * Shares at T0 and T0 + 20 days, an upload started at T0 + 24 days; the clock left at
 * T0 + 25 days. Under age:20days a lease granted at T0 is expired (25 days old) though its
 * own 31 days have not run out; one granted at T0 + 20 days is live.
 */
async function ageScenario(rig: Rig) {
  const we = [rand(32), rand(32), rand(32)];
  const I1 = newSi(); // immutable 0 and 1, one lease (T0): both go
  const I2 = newSi(); // immutable 0, a second lease at +20 days: stays
  const M1 = newSi(); // mutable 0 (T0): goes
  const M2 = newSi(); // mutable 0 (T0) goes; 1 written at +20 days stays
  const M3 = newSi(); // mutable 0 and 1, renewed at +20 days: stay
  const U = newSi(); // immutable 0 (T0) goes; 1 is being uploaded since +24 days
  await putImmutable(rig, I1, [0, 1]);
  await putImmutable(rig, I2, [0]);
  await putMutable(rig, M1, [0], we[0]);
  await putMutable(rig, M2, [0], we[1]);
  await putMutable(rig, M3, [0, 1], we[2]);
  await putImmutable(rig, U, [0]);
  rig.time.t = T0 + 20 * DAY;
  await rig.server.addLease({ si: I2, renew: rand(32), cancel: rand(32) });
  await putMutable(rig, M2, [1], we[1]);
  await rig.server.addLease({ si: M3, renew: rand(32), cancel: rand(32) });
  rig.time.t = T0 + 24 * DAY;
  const up = { renew: rand(32), cancel: rand(32), upload: rand(20) };
  const data = rand(800);
  await rig.server.allocate({ si: U, ...up, shares: [asShareNum(1)], size: data.length }, rig.conn);
  await rig.server.write(
    { si: U, sh: asShareNum(1), upload: up.upload, offset: 0, data: data.subarray(0, 300) },
    rig.conn,
  );
  rig.time.t = T0 + 25 * DAY;
  const goes = [sharePath(I1, 0), sharePath(I1, 1), sharePath(M1, 0), sharePath(M2, 0), sharePath(U, 0)];
  return {
    I1,
    I2,
    M1,
    M2,
    M3,
    U,
    up,
    data,
    goes,
    immutableGoes: 3,
    mutableGoes: 2,
    leases: 12,
    expiredLeases: 8,
  };
}

describe('the lease crawler expiring by age', () => {
  it('deletes exactly the shares whose every lease is older than the age, of both kinds, and reports the space', async () => {
    const rig = await makeRig(T0);
    const sc = await ageScenario(rig);
    const before = await shareFiles(rig.dir);
    expect(before.size).toBe(9);
    for (const p of sc.goes) expect(before.has(p)).toBe(true);

    // By their own expiry (31 days) nothing has run out yet: the count-only crawler agrees.
    const counting = makeCrawler(rig, {
      expiry: { mode: null, dryRun: false },
      statePath: path.join(rig.dir, 'c1'),
    });
    await counting.start();
    const c = (await runUntilCycleDone(rig, counting, 1)).lastCycle!.counts;
    await counting.stop();
    expect([c.expiredLeases, totalOf(c.expired).shares, totalOf(c.deleted).shares]).toEqual([0, 0, 0]);
    expect(digest(await shareFiles(rig.dir))).toEqual(digest(before));

    const crawler = makeCrawler(rig, { expiry: expiryOptions('age:20days', false) });
    await crawler.start();
    const st = await runUntilCycleDone(rig, crawler, 1);
    await crawler.stop();

    const after = await shareFiles(rig.dir);
    const kept = [...before.keys()].filter((p) => !sc.goes.includes(p));
    expect([...after.keys()].sort()).toEqual(kept.sort());
    for (const p of kept) expect(after.get(p)).toEqual(before.get(p)); // untouched, leases and all
    const counts = st.lastCycle!.counts;
    expect(counts.storageIndexes).toBe(6);
    expect(totalOf(counts.examined)).toEqual({ shares: 9, bytes: bytesOf(before) });
    expect(counts.examined.leases).toBe(sc.leases);
    expect(counts.expiredLeases).toBe(sc.expiredLeases);
    const goneBytes = (kind: 'immutable' | 'mutable') =>
      bytesOf(
        before,
        sc.goes.filter(
          (p) => (kind === 'immutable') === [sc.I1, sc.U].some((si) => p.includes(base32Encode(si))),
        ),
      );
    const gone = {
      immutable: { shares: sc.immutableGoes, bytes: goneBytes('immutable') },
      mutable: { shares: sc.mutableGoes, bytes: goneBytes('mutable') },
    };
    expect(counts.expired).toEqual(gone);
    expect(counts.deleted).toEqual(gone);
    expect(counts.kept).toEqual({ uploading: 0, withoutLeases: 0, unreadable: 0 });
    // Space: what the folder holds now, and what went.
    expect(st.space.usedByShares).toBe(bytesOf(after));
    expect(st.space.reclaimedLastCycle).toBe(bytesOf(before, sc.goes));
    expect(st.space.available).toBeGreaterThan(0);
    expect(rig.lines.filter((l) => l.startsWith('lease expiry: deleted'))).toHaveLength(4);
    expect(rig.lines).toContain(
      'lease crawler: note: age:20days expires leases sooner than the 31 days clients are promised; the shares of clients that renew less often are deleted',
    );

    // What stays still serves; the slot that lost a share is whole and its journal gone (a
    // deletion is durable as it is applied: no journal of one is kept).
    expect(await rig.server.listMutable(sc.M2)).toEqual([1]);
    expect(
      (await rig.server.readMutable({ si: sc.M2, sh: asShareNum(1), offset: 0, length: 10 })).length,
    ).toBe(10);
    expect(await fs.readdir(path.join(rig.dir, 'storage', 'journal'))).not.toContain(base32Encode(sc.M2));
    expect(await rig.server.listImmutable(sc.I2)).toEqual([0]);
    // The upload at U carries on and closes, though its sibling share went meanwhile.
    await rig.server.write(
      { si: sc.U, sh: asShareNum(1), upload: sc.up.upload, offset: 300, data: sc.data.subarray(300) },
      rig.conn,
    );
    await rig.server.close({ si: sc.U, sh: asShareNum(1), upload: sc.up.upload }, rig.conn);
    expect(await rig.server.listImmutable(sc.U)).toEqual([1]);
    expect(await rig.server.readImmutable({ si: sc.U, sh: asShareNum(1), offset: 0, length: 800 })).toEqual(
      sc.data,
    );
    await rig.server.stop();
    // Stopped, the server leaves no journal: every change it applied is durable.
    expect(await fs.readdir(path.join(rig.dir, 'storage', 'journal'))).toEqual([]);
  });

  it('in a dry run deletes nothing and counts what the real run then deletes', async () => {
    const rig = await makeRig(T0);
    const sc = await ageScenario(rig);
    const before = await shareFiles(rig.dir);
    const dry = makeCrawler(rig, { expiry: expiryOptions('age:20days', true) });
    await dry.start();
    const d = await runUntilCycleDone(rig, dry, 1);
    await dry.stop();
    expect(digest(await shareFiles(rig.dir))).toEqual(digest(before));
    expect(d.expiry).toEqual({ mode: 'age:20days', dryRun: true, deletes: false });
    const dc = d.lastCycle!.counts;
    expect(totalOf(dc.deleted)).toEqual({ shares: 0, bytes: 0 });
    expect(totalOf(dc.expired)).toEqual({ shares: sc.goes.length, bytes: bytesOf(before, sc.goes) });
    expect(d.space.usedByShares).toBe(bytesOf(before));
    expect(d.space.reclaimedLastCycle).toBe(0);

    const real = makeCrawler(rig, {
      expiry: expiryOptions('age:20days', false),
      statePath: path.join(rig.dir, 'real-state'),
    });
    await real.start();
    const r = (await runUntilCycleDone(rig, real, 1)).lastCycle!.counts;
    await real.stop();
    expect(r.deleted).toEqual(dc.expired);
    expect({ ...r, deleted: null }).toEqual({ ...dc, deleted: null });
    expect([...(await shareFiles(rig.dir)).keys()].sort()).toEqual(
      [...before.keys()].filter((p) => !sc.goes.includes(p)).sort(),
    );
    await rig.server.stop();
  });
});

describe('the lease crawler expiring by cutoff date', () => {
  it('deletes shares whose leases were all granted or renewed before the date, and keeps the rest', async () => {
    const rig = await makeRig(T0); // 2025-03-10 12:00
    const cutoff = Date.UTC(2025, 2, 15); // 2025-03-15 00:00 UTC
    const old = newSi();
    const renewed = newSi();
    const oldMutable = newSi();
    const renewedMutable = newSi();
    const justBefore = newSi();
    const atCutoff = newSi();
    await putImmutable(rig, old, [0, 3]);
    await putImmutable(rig, renewed, [2]);
    await putMutable(rig, oldMutable, [0, 1], rand(32));
    await putMutable(rig, renewedMutable, [0], rand(32));
    rig.time.t = cutoff - 1000;
    await putImmutable(rig, justBefore, [0]);
    rig.time.t = cutoff;
    await putImmutable(rig, atCutoff, [0]);
    rig.time.t = Date.UTC(2025, 2, 20);
    await rig.server.addLease({ si: renewed, renew: rand(32), cancel: rand(32) });
    await rig.server.addLease({ si: renewedMutable, renew: rand(32), cancel: rand(32) });
    rig.time.t = Date.UTC(2025, 2, 25); // every lease's own 31 days still run
    const before = await shareFiles(rig.dir);
    const goes = [sharePath(old, 0), sharePath(old, 3), sharePath(oldMutable, 0), sharePath(oldMutable, 1)];
    goes.push(sharePath(justBefore, 0));

    const crawler = makeCrawler(rig, { expiry: expiryOptions('cutoff-date:2025-03-15', false, rig.time.t) });
    await crawler.start();
    const st = await runUntilCycleDone(rig, crawler, 1);
    await crawler.stop();
    const after = await shareFiles(rig.dir);
    expect([...after.keys()].sort()).toEqual([...before.keys()].filter((p) => !goes.includes(p)).sort());
    const counts = st.lastCycle!.counts;
    expect(totalOf(counts.deleted)).toEqual({ shares: 5, bytes: bytesOf(before, goes) });
    expect(counts.expiredLeases).toBe(5 + 2); // and the first leases of the two renewed ones
    expect(st.space.usedByShares).toBe(bytesOf(after));
    expect(pathsOf(after, atCutoff)).toHaveLength(1);
    await rig.server.stop();
  });
});

describe('what the expirer keeps whatever the mode', () => {
  it('a share whose own upload is in progress: kept while it is, deleted once it is aborted', async () => {
    const rig = await makeRig(T0);
    const si = newSi();
    await putImmutable(rig, si, [0]);
    const p = path.join(rig.dir, 'storage', sharePath(si, 0));
    // A share that appears (copied back by hand) while an upload of the same share runs.
    await fs.rename(p, `${p}.aside`);
    const up = { renew: rand(32), cancel: rand(32), upload: rand(20) };
    expect(
      (await rig.server.allocate({ si, ...up, shares: [asShareNum(0)], size: 50 }, rig.conn)).allocated,
    ).toEqual([0]);
    await fs.rename(`${p}.aside`, p);
    rig.time.t = T0 + 40 * DAY;
    const crawler = makeCrawler(rig, { expiry: expiryOptions('age', false) });
    await crawler.start();
    let st = await runUntilCycleDone(rig, crawler, 1);
    expect(st.lastCycle!.counts.kept.uploading).toBe(1);
    expect(totalOf(st.lastCycle!.counts.expired).shares).toBe(0);
    expect(await rig.server.listImmutable(si)).toEqual([0]);

    await rig.server.abort({ si, sh: asShareNum(0), upload: up.upload }, rig.conn);
    st = await runUntilCycleDone(rig, crawler, 2);
    await crawler.stop();
    expect(st.lastCycle!.counts.kept.uploading).toBe(0);
    expect(totalOf(st.lastCycle!.counts.deleted).shares).toBe(1);
    expect(await rig.server.listImmutable(si)).toEqual([]);
    await rig.server.stop();
  });

  it('shares without leases and shares it cannot read, and leaves their bytes alone', async () => {
    const rig = await makeRig(T0);
    const storage = path.join(rig.dir, 'storage');
    const place = async (si: StorageIndex, sh: number, bytes: Uint8Array) => {
      const p = path.join(storage, sharePath(si, sh));
      await fs.mkdir(path.dirname(p), { recursive: true });
      await fs.writeFile(p, bytes);
    };
    const data = rand(20);
    const noLease = newSi();
    await place(noLease, 0, new Uint8Array([...encodeImmutableHeader(20, 0), ...data]));
    const short = newSi(); // the header says 1000 bytes of data; the file has 20
    await place(short, 0, new Uint8Array([...encodeImmutableHeader(1000, 1), ...data]));
    const countBeyond = newSi(); // two leases counted, one record present
    await place(
      countBeyond,
      0,
      new Uint8Array([...encodeImmutableHeader(20, 2), ...data, ...new Uint8Array(72)]),
    );
    const badMutable = newSi(); // extra leases said to start inside the data
    const header = encodeMutableHeader({
      nodeId: rand(20),
      writeEnabler: rand(32),
      dataLength: 100,
      extraLeaseOffset: MUTABLE_DATA_OFFSET + 10,
      slots: [],
    });
    await place(badMutable, 0, new Uint8Array([...header, ...rand(104)]));
    const fine = newSi();
    await putImmutable(rig, fine, [0]);
    const before = await shareFiles(rig.dir);
    rig.time.t = T0 + 400 * DAY;

    const crawler = makeCrawler(rig, { expiry: expiryOptions('age:1s', false) });
    await crawler.start();
    const st = await runUntilCycleDone(rig, crawler, 1);
    await crawler.stop();
    const counts = st.lastCycle!.counts;
    expect(counts.kept).toEqual({ uploading: 0, withoutLeases: 1, unreadable: 3 });
    expect(totalOf(counts.examined)).toEqual({ shares: 5, bytes: bytesOf(before) }); // they take space all the same
    expect(totalOf(counts.deleted).shares).toBe(1);
    const after = await shareFiles(rig.dir);
    expect(after.size).toBe(4);
    for (const [p, b] of after) expect(b).toEqual(before.get(p));
    expect(rig.lines.filter((l) => /cannot read (im)?mutable share 0/.test(l))).toHaveLength(3);
    await rig.server.stop();
  });
});

describe('storage indexes in the second-kind trees', () => {
  it('are walked with the rest, once each, and names that are not storage indexes are left alone', async () => {
    const rig = await makeRig(T0);
    const both = newSi(); // mutable first (Tahoe's folder), then immutable (the second-kind tree)
    await putMutable(rig, both, [0], rand(32));
    await putImmutable(rig, both, [0]);
    const onlySecond = newSi(); // its mutable share deleted by its writer: only the second-kind tree is left
    const we = rand(32);
    await putMutable(rig, onlySecond, [0], we);
    await putImmutable(rig, onlySecond, [1]);
    await rig.server.readTestWrite({
      si: onlySecond,
      writeEnabler: we,
      renew: rand(32),
      cancel: rand(32),
      testWrite: new Map([[asShareNum(0), { test: [], write: [], newLength: 0 }]]),
      readVector: [],
    });
    const files = await shareFiles(rig.dir);
    expect(pathsOf(files, onlySecond)).toEqual([sharePath(onlySecond, 1, 'shares-second-kind/immutable')]);
    expect(pathsOf(files, both)).toHaveLength(2);
    // Junk an operator (or another program) left: not 26 base32 letters, or 26 with trailing bits set.
    const prefix = base32Encode(both).slice(0, 2);
    const junk = [`${prefix}notastorageindex`, `${prefix}${'a'.repeat(23)}b`];
    for (const j of junk) {
      await fs.mkdir(path.join(rig.dir, 'storage', 'shares', prefix, j), { recursive: true });
      await fs.writeFile(path.join(rig.dir, 'storage', 'shares', prefix, j, '0'), 'not a share');
    }
    const listed = await rig.server.storageIndexesIn(prefix);
    expect(listed.map(base32Encode)).toContain(base32Encode(both));
    expect(listed.map(base32Encode)).toEqual([...new Set(listed.map(base32Encode))].sort());
    const sp = base32Encode(onlySecond).slice(0, 2);
    expect((await rig.server.storageIndexesIn(sp)).map(base32Encode)).toContain(base32Encode(onlySecond));
    await expect(rig.server.storageIndexesIn('../')).rejects.toThrow(/prefix/);

    rig.time.t = T0 + 40 * DAY;
    const crawler = makeCrawler(rig, { expiry: expiryOptions('age', false) });
    await crawler.start();
    const st = await runUntilCycleDone(rig, crawler, 1);
    await crawler.stop();
    expect(st.lastCycle!.counts.storageIndexes).toBe(2);
    expect(st.lastCycle!.counts.deleted).toEqual({
      immutable: {
        shares: 2,
        bytes: bytesOf(files, [
          pathsOf(files, onlySecond)[0],
          ...pathsOf(files, both).filter((p) => p.includes('second')),
        ]),
      },
      mutable: {
        shares: 1,
        bytes: bytesOf(
          files,
          pathsOf(files, both).filter((p) => !p.includes('second')),
        ),
      },
    });
    const left = await shareFiles(rig.dir);
    expect([...left.keys()].sort()).toEqual(junk.map((j) => path.join('shares', prefix, j, '0')).sort());
    await rig.server.stop();
  });
});
