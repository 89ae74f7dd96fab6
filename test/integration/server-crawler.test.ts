/**
 * The lease crawler in a real `cairn server` process: killed with SIGKILL in the middle of
 * a cycle over many storage indexes and started again, it carries on from the cursor its
 * state file holds (this process examines only the rest) and the cycle's figures count
 * every storage index once; GET /v1/status and DIR/storage/status.json report them, and the
 * space used matches the folder.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectStorageServer } from '../../core/protocol/client.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import type { CrawlerStatus } from '../../server/crawler.ts';
import { parseCrawlerState } from '../../server/crawler.ts';
import { cleanup, type SpawnedServer, spawnServer } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
afterAll(() => cleanup());

type Status = CrawlerStatus & { serverId: string; availableSpace: number };

async function status(s: SpawnedServer): Promise<Status> {
  const url = (s.url as string).replace(/^ws:/, 'http:').replace(/\/v1\/storage$/, '/v1/status');
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET /v1/status: ${r.status}`);
  return (await r.json()) as Status;
}

async function folderBytes(root: string): Promise<number> {
  let n = 0;
  for (const name of (await fs.readdir(root, { recursive: true })) as string[]) {
    const st = await fs.stat(path.join(root, name));
    if (st.isFile()) n += st.size;
  }
  return n;
}

describe('the lease crawler of a server process', () => {
  it('resumes its cycle from the cursor after SIGKILL, and reports what it counted', async () => {
    const IMMUTABLE = 200;
    const MUTABLE = 20;
    const N = IMMUTABLE + MUTABLE;
    const RATE = 25; // storage indexes a second: a cycle over N takes about 9 s
    // Filled by a server that does not crawl yet (its crawler waits 300 s by default).
    const filler = await spawnServer({ bundled: true });
    const conn = await connectStorageServer(filler.url as string, filler.serverId);
    const jobs: Array<() => Promise<void>> = [];
    for (let i = 0; i < IMMUTABLE; i++) {
      jobs.push(async () => {
        const si = asStorageIndex(rand(16));
        const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
        await conn.allocateBuckets(si, s, [asShareNum(0)], 100);
        await conn.writeShare(si, asShareNum(0), s.upload, 0, rand(100));
        await conn.closeShare(si, asShareNum(0), s.upload);
      });
    }
    for (let i = 0; i < MUTABLE; i++) {
      jobs.push(async () => {
        const tw = new Map([
          [asShareNum(0), { test: [], write: [{ offset: 0, data: rand(300) }], newLength: null }],
        ]);
        const secrets = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
        expect((await conn.readTestWrite(asStorageIndex(rand(16)), secrets, tw, [])).success).toBe(true);
      });
    }
    for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((j) => j()));
    conn.close();
    await filler.stop();
    const dir = filler.dir;
    const flags = ['--expire-leases', 'age:60days', '--crawl-rate', String(RATE), '--crawl-delay', '0s'];

    const first = await spawnServer({ dir, bundled: true, extraArgs: flags });
    await waitFor(async () => ((await status(first)).cycleToDate?.storageIndexes ?? 0) >= 50, {
      what: 'the crawler to examine 50 storage indexes',
      detail: async () => JSON.stringify((await status(first)).crawler),
    });
    await first.stop('SIGKILL');
    const saved = parseCrawlerState(
      await fs.readFile(path.join(dir, 'storage', 'lease-crawler.json'), 'utf8'),
    );
    if (typeof saved === 'string') throw new Error(`state file: ${saved}`);
    expect(saved.inProgress).toBe(true);
    expect(saved.cycle).toBe(1);
    const done = saved.cycleToDate.storageIndexes;
    // It was killed wherever it was, likely mid-step: the work of that step is lost (and done
    // again), but the steps before it are on record, and a step examines at most RATE.
    expect(done).toBeGreaterThanOrEqual(50 - RATE);
    expect(done).toBeLessThan(N);

    const again = await spawnServer({ dir, bundled: true, extraArgs: flags });
    const st = await waitFor(
      async () => {
        const s = await status(again);
        return s.lastCycle?.cycle === 1 && s;
      },
      {
        what: 'the resumed cycle to finish',
        timeoutMs: 60_000,
        detail: async () => JSON.stringify((await status(again)).crawler),
      },
    );
    expect(again.output()).toMatch(
      new RegExp(
        `lease crawler: resuming cycle 1 at prefix [a-z2-7]{2} \\(\\d+ of 1024 prefixes, ${done} storage`,
      ),
    );
    // This process examined only what the killed one had not saved as done.
    expect(st.crawler.examinedSinceStart).toBe(N - done);
    const counts = st.lastCycle!.counts;
    expect(counts.storageIndexes).toBe(N);
    expect(counts.examined.immutable.shares).toBe(IMMUTABLE);
    expect(counts.examined.mutable.shares).toBe(MUTABLE);
    expect(counts.examined.leases).toBe(N);
    expect([counts.expiredLeases, counts.deleted.immutable.shares, counts.deleted.mutable.shares]).toEqual([
      0, 0, 0,
    ]);
    // The pace held across the restart. Each process owes no pause after its last step (the killed
    // one was killed in it; the second one ends the cycle), so a cycle of N at RATE a second takes at
    // least (N − two steps of RATE) / RATE s. (CI once measured 7.4 s against a one-step bound of 7.8 s.)
    const took = Date.parse(st.lastCycle!.finishedAt) - Date.parse(st.lastCycle!.startedAt);
    expect(took).toBeGreaterThanOrEqual(((N - 2 * RATE) * 1000) / RATE);
    // Space: what the share folders hold, as the status says and as the status file says.
    const used = await folderBytes(path.join(dir, 'storage', 'shares'));
    expect(st.space.usedByShares).toBe(used);
    expect(counts.examined.immutable.bytes + counts.examined.mutable.bytes).toBe(used);
    expect(st.space.reclaimedLastCycle).toBe(0);
    expect(st.expiry).toEqual({ mode: 'age:60days', dryRun: false, deletes: true });
    expect(st.serverId).toBe(again.serverId);
    expect(st.availableSpace).toBeGreaterThan(0);
    const file = JSON.parse(
      await fs.readFile(path.join(dir, 'storage', 'status.json'), 'utf8'),
    ) as CrawlerStatus;
    expect(file.lastCycle).toEqual(st.lastCycle);
    expect(again.output()).toMatch(
      /lease crawler: cycle 1 done in \d+ s \(age:60days\): 220 storage indexes/,
    );
    await again.stop();
  });
});
