/**
 * The relay down (SIGKILL) or hung (SIGSTOP) with real processes: before and during uploads,
 * new mutable versions and downloads of CHK, MDMF and SDMF files. Clients that have seen the server list
 * (a ServerListCache, as the CLI keeps in its home and the tab in IndexedDB) go on with it;
 * transfers already under way never needed the relay; a client that never saw a list fails
 * with a typed error (RELAY_UNAVAILABLE). Servers that die or come back while the relay is
 * down are routed around or used again through the cached list. Once the relay is back, the
 * servers announce again and fresh clients read everything exactly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Grid, memoryServerListCache, type ServerListCache } from '../../core/client/index.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { type FaultGrid, FULL, outcome, startFaultGrid, takeCrashes, useSeed } from '../harness/faults.ts';
import { cleanup } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import {
  contents,
  expectOneOf,
  expectTyped,
  KINDS,
  type Kind,
  readBack,
  replace,
  type Stored,
  store,
} from './files.ts';
import { trigger } from './trigger.ts';

const TIMEOUT = 240_000;
const SERVERS = 7;

let grid: FaultGrid;

beforeAll(async () => {
  grid = await startFaultGrid({ servers: SERVERS, mutable: { k: 3, n: SERVERS } });
}, TIMEOUT);

afterEach(async () => {
  expect(takeCrashes()).toEqual([]);
  await grid.relayUp();
  await grid.heal();
});

afterAll(async () => {
  await grid?.close();
  cleanup();
});

/** A client whose list comes from `cache` when the relay cannot be reached; it asks the relay every time. */
function client(cache: ServerListCache, warnings: string[] = []): Grid {
  return grid.client({ cache, listMaxAgeMs: 0, warn: (l) => warnings.push(l), requestTimeoutMs: 5_000 });
}

/** Reads `cap` with a new client on `cache`, closed after. */
async function readWith(cache: ServerListCache, cap: string): Promise<Uint8Array> {
  const c = client(cache);
  try {
    return await readBack(c, cap);
  } finally {
    c.close();
  }
}

/** A client that has seen the list once (the relay was up), and so has it cached. */
async function warmCache(): Promise<ServerListCache> {
  const cache = memoryServerListCache();
  const c = client(cache);
  expect(await c.connections.servers()).toHaveLength(SERVERS);
  c.close();
  return cache;
}

describe('the relay down', () => {
  it(
    'clients with a cached list store, rewrite and read every kind; a client without one gets RELAY_UNAVAILABLE',
    async () => {
      const cache = await warmCache();
      await grid.relayDown();
      const warnings: string[] = [];
      const files: { file: Stored; data: Uint8Array }[] = [];
      for (const kind of KINDS) {
        // A new client each time (a new CLI process, a reloaded tab), sharing the cached list.
        const c = client(cache, warnings);
        const data = contents(kind, 0.5);
        const file = await store(c, kind, data);
        c.close();
        files.push({ file, data });
        if (kind !== 'chk') {
          const next = contents(kind, 0.4);
          const w = client(cache, warnings);
          await replace(w, file, next);
          w.close();
          files[files.length - 1].data = next;
        }
      }
      for (const { file, data } of files) {
        const r = client(cache, warnings);
        expectBytesEqual(await readBack(r, file.readCap), data, `${file.kind} read with the relay down`);
        r.close();
      }
      expect(warnings.join('\n')).toMatch(
        /cannot reach the relay.*using the 7 server\(s\) it listed last time/,
      );

      // No list ever seen: a clear, typed error for writes and reads alike.
      const cold = client(memoryServerListCache());
      const up = await outcome(store(cold, 'chk', contents('chk', 0.1)));
      expect(up.ok).toBe(false);
      if (!up.ok) expectTyped(up.error, ['RELAY_UNAVAILABLE'], 'an upload with no list');
      const rd = await outcome(readBack(cold, files[1].file.readCap));
      expect(rd.ok).toBe(false);
      if (!rd.ok) expectTyped(rd.error, ['RELAY_UNAVAILABLE'], 'a read with no list');
      cold.close();

      // Back up: servers announce again; a fresh client with no cache reads everything.
      await grid.relayUp();
      const fresh = client(memoryServerListCache());
      for (const { file, data } of files) {
        expectBytesEqual(await readBack(fresh, file.readCap), data, `${file.kind} once the relay is back`);
      }
      fresh.close();
    },
    TIMEOUT,
  );

  it(
    'while the relay is down, a server dies and another comes back: the cached list routes around the one and uses the other',
    async () => {
      const rng = useSeed('relay down, servers churn');
      const cache = await warmCache();
      const before: { file: Stored; data: Uint8Array }[] = [];
      const w = client(cache);
      for (const kind of KINDS) {
        const data = contents(kind, 0.5);
        before.push({ file: await store(w, kind, data), data });
      }
      w.close();
      const [gone, back] = rng.sample(grid.servers, 2);
      await back.kill();
      await grid.relayDown();
      await gone.kill();
      await back.start(); // same URL (its proxy), found through the cached list
      for (const kind of KINDS) {
        const c = client(cache);
        const item = before.find((b) => b.file.kind === kind)!;
        expectBytesEqual(await readBack(c, item.file.readCap), item.data, `${kind} read, one server gone`);
        if (kind !== 'chk') {
          const next = contents(kind, 0.3);
          await replace(c, item.file, next);
          item.data = next;
        } else {
          // An upload needs happy = 5 of the 6 servers reachable: it must succeed.
          const data = contents(kind, 0.3);
          before.push({ file: await store(c, kind, data), data });
        }
        c.close();
      }
      await grid.relayUp();
      await grid.heal();
      const fresh = client(memoryServerListCache());
      for (const { file, data } of before) {
        const got = await readBack(fresh, file.readCap);
        expectBytesEqual(got, data, `${file.kind} after the churn`);
      }
      fresh.close();
    },
    TIMEOUT,
  );
});

describe('the relay hung (SIGSTOP)', () => {
  /**
   * A client that gives the relay 2 s to answer, then keeps the list it got (from the relay
   * or the cache) for a minute: each client meets the hung relay once.
   */
  const patient = (cache: ServerListCache, warnings: string[] = []) =>
    grid.client({
      cache,
      listTimeoutMs: 2_000,
      listMaxAgeMs: 60_000,
      warn: (l) => warnings.push(l),
      requestTimeoutMs: 5_000,
    });

  it(
    'clients with a cached list store, rewrite and read every kind; a client without one fails with RELAY_UNAVAILABLE, not a hang; once it resumes, a fresh client reads everything',
    async () => {
      const cache = await warmCache();
      // Its port still accepts connections (the kernel does that), and nothing ever answers.
      grid.relayHang();
      const warnings: string[] = [];
      const files: { file: Stored; data: Uint8Array }[] = [];
      const c = patient(cache, warnings);
      for (const kind of KINDS) {
        const data = contents(kind, 0.4);
        const file = await store(c, kind, data);
        let current = data;
        if (kind !== 'chk') {
          current = contents(kind, 0.3);
          await replace(c, file, current);
        }
        files.push({ file, data: current });
      }
      c.close();
      // Another client (another process) on the cached list reads them all.
      const r = patient(cache, warnings);
      for (const { file, data } of files) {
        expectBytesEqual(await readBack(r, file.readCap), data, `${file.kind} read with the relay hung`);
      }
      r.close();
      expect(warnings.join('\n')).toMatch(
        /cannot reach the relay.*using the 7 server\(s\) it listed last time/,
      );

      const cold = patient(memoryServerListCache());
      const up = await outcome(store(cold, 'chk', contents('chk', 0.1)));
      expect(up.ok, 'an upload with no list and a hung relay succeeded').toBe(false);
      if (!up.ok) expectTyped(up.error, ['RELAY_UNAVAILABLE'], 'an upload with no list, the relay hung');
      const rd = await outcome(readBack(cold, files[0].file.readCap));
      expect(rd.ok, 'a read with no list and a hung relay succeeded').toBe(false);
      if (!rd.ok) expectTyped(rd.error, ['RELAY_UNAVAILABLE'], 'a read with no list, the relay hung');
      cold.close();

      await grid.relayResume();
      const fresh = client(memoryServerListCache());
      for (const { file, data } of files) {
        expectBytesEqual(await readBack(fresh, file.readCap), data, `${file.kind} once the relay resumed`);
      }
      fresh.close();
    },
    TIMEOUT,
  );
});

describe('a list past its age', () => {
  it(
    'is used at once while the relay is asked again; past twelve times its age a call waits for the relay',
    async () => {
      const warnings: string[] = [];
      const c = grid.client({
        cache: memoryServerListCache(),
        listMaxAgeMs: 300,
        listTimeoutMs: 2_000,
        warn: (l) => warnings.push(l),
        requestTimeoutMs: 5_000,
      });
      const sleep = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms));
      try {
        expect(await c.connections.servers()).toHaveLength(SERVERS);
        await sleep(500);
        grid.relayHang();
        // The relay cannot answer for 2 s (listTimeoutMs): a list back sooner is the old one.
        expect(await Promise.race([c.connections.servers(), sleep(1_500)])).toHaveLength(SERVERS);
        // The fresh fetch went on behind it: the relay did not answer, the servers did.
        await waitFor(() => warnings.some((w) => /cannot reach the relay/.test(w)), {
          what: 'the background fetch to give up on the hung relay',
        });
        const fallback = warnings.length;
        // The servers' answer is a fresh list; once it is past 12 x 300 ms, a call waits again.
        await sleep(12 * 300 + 300);
        const late = c.connections.servers();
        expect(await Promise.race([late, sleep(1_000)])).toBeNull();
        expect(await late).toHaveLength(SERVERS);
        expect(warnings.length).toBeGreaterThan(fallback);
      } finally {
        c.close();
      }
    },
    TIMEOUT,
  );
});

// The relay plays no part in a transfer under way: CI runs MDMF (upload, new version and
// download); FAULTS_FULL=1 runs every kind.
describe.each(FULL ? KINDS : (['mdmf'] as const))('the relay killed mid-transfer: %s', (kind: Kind) => {
  it(
    'an upload, a new version and a download under way finish exactly; the file reads back with the relay still down',
    async () => {
      const rng = useSeed(`relay killed mid-transfer ${kind}`);
      const cache = await warmCache();
      // Links paced (heal() in afterEach restores full speed) so a transfer lasts long enough
      // for the relay to die inside it; each step checks that it did.
      for (const s of grid.servers) s.slow({ bytesPerSec: 4_000_000, upBytesPerSec: 2_000_000 });
      /** Kills the relay once a random part of `bytes` has gone through the servers' proxies. */
      const midway = (way: 'up' | 'down', bytes: number) => {
        const t = trigger(0.1 + 0.6 * rng.next(), () => grid.relayDown());
        const base = grid.traffic()[way];
        const watch = setInterval(() => t.progress(grid.traffic()[way] - base, bytes), 5);
        return {
          async done(what: string) {
            clearInterval(watch);
            expect(t.fired, `${what}: the relay was killed before the transfer ended`).toBe(true);
            await t.settle(0);
          },
        };
      };
      const shareBytes = (n: number) => Math.ceil(n / 3) * SERVERS;
      const c = client(cache);
      // Upload.
      const data = contents(kind);
      let m = midway('up', shareBytes(data.length));
      const file = await store(c, kind, data);
      await m.done(`${kind} upload`);
      expectBytesEqual(await readWith(cache, file.readCap), data, `${kind} uploaded as the relay died`);
      await grid.relayUp();
      // New version.
      let current = data;
      if (kind !== 'chk') {
        const next = contents(kind, 0.8);
        m = midway('up', shareBytes(next.length));
        await replace(c, file, next);
        await m.done(`${kind} new version`);
        current = next;
        const got = await readWith(cache, file.readCap);
        expect(expectOneOf(got, [next], `${kind} new version as the relay died`)).toBe(0);
        await grid.relayUp();
      }
      // Download.
      const reader = client(cache);
      m = midway('down', current.length);
      const got = await readBack(reader, file.readCap);
      await m.done(`${kind} download`);
      reader.close();
      expectBytesEqual(got, current, `${kind} downloaded as the relay died`);
      c.close();
    },
    TIMEOUT,
  );
});
