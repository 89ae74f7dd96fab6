/**
 * The lease crawler's walk (server/crawler.ts) on a real StorageServer and DiskBackend, its
 * steps run by a scheduler the test drives and timed by the test's clock: a stable order,
 * a cursor on disk that a new crawler resumes from, a new cycle from the beginning, and the
 * pace (storage indexes per second, share of time working) measured by that clock.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import type { StorageIndex } from '../../core/types.ts';
import { type CrawlTarget, PREFIXES, parseCrawlerState } from '../../server/crawler.ts';
import type { ExpiryPolicy } from '../../server/expiry.ts';
import { cleanup } from '../harness/grid.ts';
import { makeCrawler, makeRig, newSi, putImmutable, type Rig, runUntilCycleDone } from './crawl-harness.ts';

afterAll(() => cleanup());

const T0 = 1_750_000_000_000;
const COUNT_ONLY = { mode: null, dryRun: false };

/** A rig with `n` storage indexes of one small immutable share each; their names sorted. */
async function populated(n: number): Promise<{ rig: Rig; names: string[] }> {
  const rig = await makeRig(T0);
  const sis: StorageIndex[] = [];
  for (let i = 0; i < n; i++) sis.push(newSi());
  for (const si of sis) await putImmutable(rig, si, [0], 10);
  return { rig, names: sis.map(base32Encode).sort() };
}

/** The server, with each examination recorded (name, clock) and optionally taking `workMs` of the clock. */
function recording(rig: Rig, workMs = 0) {
  const seen: Array<{ name: string; at: number }> = [];
  const target: CrawlTarget = {
    storageIndexesIn: (p) => rig.server.storageIndexesIn(p),
    examineStorageIndex: async (si: StorageIndex, policy: ExpiryPolicy) => {
      seen.push({ name: base32Encode(si), at: rig.time.t });
      rig.time.t += workMs;
      return rig.server.examineStorageIndex(si, policy);
    },
  };
  return { seen, target };
}

describe('the crawler walks', () => {
  it("Tahoe's 1024 prefixes in order, and every storage index once per cycle, by name", async () => {
    expect(PREFIXES).toHaveLength(1024);
    expect(new Set(PREFIXES).size).toBe(1024);
    expect(PREFIXES.slice(0, 7)).toEqual(['22', '23', '24', '25', '26', '27', '2a']);
    expect(PREFIXES[1023]).toBe('zz');
    expect([...PREFIXES].sort()).toEqual(PREFIXES);

    const { rig, names } = await populated(40);
    const { seen, target } = recording(rig);
    const crawler = makeCrawler(rig, { expiry: COUNT_ONLY, target, pace: { perSecond: 10 } });
    await crawler.start();
    await runUntilCycleDone(rig, crawler, 1);
    expect(seen.map((s) => s.name)).toEqual(names);
    // The next cycle starts from the beginning, an hour (minCycleMs) after the first started.
    const first = (await crawler.status()).lastCycle!;
    const st = await runUntilCycleDone(rig, crawler, 2);
    await crawler.stop();
    expect(seen.map((s) => s.name)).toEqual([...names, ...names]);
    expect(Date.parse(st.lastCycle!.startedAt) - Date.parse(first.startedAt)).toBe(3600_000);
    expect(st.lastCycle!.counts.storageIndexes).toBe(40);
    expect(rig.lines.filter((l) => /lease crawler: cycle \d done/.test(l))).toHaveLength(2);
    await rig.server.stop();
  });

  it('resumes a cycle from the cursor in its state file after a restart, not from the start', async () => {
    const N = 120;
    const { rig, names } = await populated(N);
    const statePath = path.join(rig.dir, 'storage', 'lease-crawler.json');
    const one = recording(rig);
    // 10 a second: 10 storage indexes a step (100 ms of work in each second).
    const first = makeCrawler(rig, { expiry: COUNT_ONLY, target: one.target, pace: { perSecond: 10 } });
    expect(first.perSlice).toBe(10);
    await first.start();
    for (let i = 0; i < 4; i++) expect(await rig.time.runNext()).toBe(true);
    expect(one.seen).toHaveLength(40);
    // The process dies here (no stop): what it saved after its last step is all that is left.
    const saved = parseCrawlerState(await fs.readFile(statePath, 'utf8'));
    if (typeof saved === 'string') throw new Error(saved);
    expect(saved.inProgress).toBe(true);
    expect(saved.cycle).toBe(1);
    expect(saved.cycleToDate.storageIndexes).toBe(40);
    expect(saved.cursor.after).toBe(names[39]);
    expect(PREFIXES[saved.cursor.prefix]).toBe(names[39].slice(0, 2));

    const two = recording(rig);
    const second = makeCrawler(rig, { expiry: COUNT_ONLY, target: two.target, pace: { perSecond: 10 } });
    await second.start();
    expect(
      rig.lines.some(
        (l) => l.includes('resuming cycle 1 at prefix') && l.includes('40 storage indexes done'),
      ),
    ).toBe(true);
    const st = await runUntilCycleDone(rig, second, 1);
    await second.stop();
    expect(two.seen.map((s) => s.name)).toEqual(names.slice(40));
    expect(st.crawler.examinedSinceStart).toBe(N - 40);
    expect(st.lastCycle!.cycle).toBe(1);
    expect(st.lastCycle!.counts.storageIndexes).toBe(N);
    expect(st.lastCycle!.counts.examined.immutable.shares).toBe(N);
    await rig.server.stop();
  });

  it('starts afresh, harming nothing, when its state file is unusable', async () => {
    const { rig, names } = await populated(15);
    const statePath = path.join(rig.dir, 'storage', 'lease-crawler.json');
    const run = async () => {
      const r = recording(rig);
      const c = makeCrawler(rig, { expiry: COUNT_ONLY, target: r.target });
      await c.start();
      const st = await runUntilCycleDone(rig, c, 1);
      await c.stop();
      return { st, seen: r.seen.map((s) => s.name) };
    };
    const good = await run();
    const text = await fs.readFile(statePath, 'utf8');
    expect(parseCrawlerState(text)).toMatchObject({ format: 'cairn lease crawler state v1', cycle: 1 });
    const status = JSON.parse(await fs.readFile(path.join(rig.dir, 'storage', 'status.json'), 'utf8'));
    expect(status.lastCycle).toEqual(good.st.lastCycle);
    expect({ ...status.space, available: 0 }).toEqual({ ...good.st.space, available: 0 });
    const state = JSON.parse(text);
    const elsewhere = PREFIXES.findIndex((p) => p !== names[0].slice(0, 2)); // a prefix the name is not in
    const bad: Array<[string, RegExp]> = [
      [text.slice(0, text.length / 2), /not JSON/],
      [JSON.stringify({ ...state, format: 'something else' }), /not a "cairn lease crawler state v1" file/],
      [JSON.stringify({ ...state, cycle: -1 }), /bad cycle number/],
      [
        JSON.stringify({ ...state, inProgress: true, cursor: { prefix: elsewhere, after: names[0] } }),
        /bad cursor/,
      ],
      [JSON.stringify({ ...state, cursor: { prefix: 2000, after: null } }), /bad cursor/],
      [
        JSON.stringify({ ...state, cycleToDate: { ...state.cycleToDate, storageIndexes: -5 } }),
        /bad figures/,
      ],
    ];
    for (const [content, why] of bad) {
      expect(parseCrawlerState(content)).toMatch(why);
      await fs.writeFile(statePath, content);
      await fs.writeFile(`${statePath}.tmp`, 'left by a crash'); // a torn replacement: ignored, then overwritten
      rig.lines.length = 0;
      const again = await run();
      expect(rig.lines.some((l) => l.includes('is unusable') && l.includes('starting afresh'))).toBe(true);
      expect(again.st.lastCycle!.cycle).toBe(1);
      expect(again.seen).toEqual(names);
      expect(parseCrawlerState(await fs.readFile(statePath, 'utf8'))).toMatchObject({
        cycle: 1,
        inProgress: false,
      });
    }
    await rig.server.stop();
  });
});

describe('the crawler pace, by the injected clock', () => {
  it('examines at most perSecond storage indexes a second (plus one step), and not much fewer', async () => {
    const N = 200;
    const R = 10;
    const { rig } = await populated(N);
    const { seen, target } = recording(rig); // work takes no time on this clock
    const crawler = makeCrawler(rig, { expiry: COUNT_ONLY, target, pace: { perSecond: R } });
    const perSlice = crawler.perSlice;
    expect(perSlice).toBe(10);
    await crawler.start();
    await runUntilCycleDone(rig, crawler, 1);
    await crawler.stop();
    const at = seen.map((s) => s.at);
    expect(at).toHaveLength(N);
    for (const windowMs of [1000, 2500, 10_000]) {
      let most = 0;
      for (let i = 0; i < at.length; i++) {
        let n = 0;
        for (let j = i; j < at.length && at[j] < at[i] + windowMs; j++) n++;
        most = Math.max(most, n);
      }
      expect(most, `most examined in ${windowMs} ms`).toBeLessThanOrEqual((R * windowMs) / 1000 + perSlice);
    }
    const span = at[N - 1] - at[0];
    expect(span).toBeGreaterThanOrEqual(((N - perSlice) * 1000) / R);
    expect(span).toBeLessThanOrEqual((N * 1000) / R + 1000);
    await rig.server.stop();
  });

  it('works at most busyFraction of the time and sliceMs at a stretch when the disk is slow', async () => {
    const N = 60;
    const workMs = 30;
    const { rig } = await populated(N);
    const { seen, target } = recording(rig, workMs);
    const crawler = makeCrawler(rig, {
      expiry: COUNT_ONLY,
      target,
      pace: { perSecond: 1_000_000, sliceMs: 100, busyFraction: 0.1 },
    });
    await crawler.start();
    const steps: Array<[number, number]> = [];
    while (!(await crawler.status()).lastCycle) {
      const start = rig.time.nextDue as number;
      expect(await rig.time.runNext()).toBe(true);
      steps.push([start, rig.time.t]);
    }
    await crawler.stop();
    expect(seen).toHaveLength(N);
    const working = steps.filter(([s, e]) => e > s);
    expect(working.length).toBeGreaterThanOrEqual(N / 4);
    for (let k = 0; k < working.length; k++) {
      const [s, e] = working[k];
      expect(e - s).toBeLessThanOrEqual(100 + workMs); // it stops once past sliceMs
      if (k + 1 < working.length) expect(working[k + 1][0] - e).toBeGreaterThanOrEqual(9 * (e - s)); // ≥ 90 % resting
    }
    const busy = working.reduce((n, [s, e]) => n + (e - s), 0);
    const span = working[working.length - 1][1] - working[0][0];
    expect(busy / span).toBeLessThanOrEqual(0.1 + (100 + workMs) / span);
    await rig.server.stop();
  });
});
