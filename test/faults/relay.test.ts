/**
 * The relay down (SIGKILL) with real processes: before and during uploads, new mutable
 * versions and downloads of CHK, MDMF and SDMF files. Clients that have seen the server list
 * (a ServerListCache, as the CLI keeps in its home and the tab in IndexedDB) go on with it;
 * transfers already under way never needed the relay; a client that never saw a list fails
 * with a typed error (RELAY_UNAVAILABLE). Servers that die or come back while the relay is
 * down are routed around or used again through the cached list. Once the relay is back, the
 * servers announce again and fresh clients read everything exactly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Grid, memoryServerListCache, type ServerListCache } from '../../core/client/index.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { type FaultGrid, outcome, startFaultGrid, takeCrashes, useSeed } from '../harness/faults.ts';
import { cleanup } from '../harness/grid.ts';
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

describe.each(KINDS)('the relay killed mid-transfer: %s', (kind: Kind) => {
  it(
    'an upload, a new version and a download under way finish exactly; the file reads back with the relay still down',
    async () => {
      const rng = useSeed(`relay killed mid-transfer ${kind}`);
      const cache = await warmCache();
      const c = client(cache);
      // Upload.
      const data = contents(kind);
      let t = trigger(0.1 + 0.6 * rng.next(), () => grid.relayDown());
      const file = await store(c, kind, data, t.progress);
      t.fire();
      await t.settle(0);
      expectBytesEqual(await readWith(cache, file.readCap), data, `${kind} uploaded as the relay died`);
      await grid.relayUp();
      // New version.
      let current = data;
      if (kind !== 'chk') {
        const next = contents(kind, 0.8);
        t = trigger(0.1 + 0.6 * rng.next(), () => grid.relayDown());
        await replace(c, file, next, t.progress);
        t.fire();
        await t.settle(0);
        current = next;
        const got = await readWith(cache, file.readCap);
        expect(expectOneOf(got, [next], `${kind} new version as the relay died`)).toBe(0);
        await grid.relayUp();
      }
      // Download.
      t = trigger(0.1 + 0.6 * rng.next(), () => grid.relayDown());
      const reader = client(cache);
      const got = await readBack(reader, file.readCap, (n) => t.progress(n, current.length));
      reader.close();
      t.fire();
      await t.settle(0);
      expectBytesEqual(got, current, `${kind} downloaded as the relay died`);
      c.close();
    },
    TIMEOUT,
  );
});
