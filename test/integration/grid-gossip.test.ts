/**
 * Discovery with no single point of failure (issue #14 point 3, Tahoe #3457), with real
 * processes on 127.0.0.1: servers pass signed announcements among themselves, so with the
 * relay killed clients still upload and download, a server started later joins through
 * another server, and clients learn of it from any server. Forged and replayed
 * announcements are refused by every server, as by the relay.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SignedAnnouncement } from '../../core/protocol/announcement.ts';
import { decodeCbor, encodeCbor } from '../../core/protocol/cbor.ts';
import { encodeServerList, fetchGridServers, gridOrigin, subscribeToGrid } from '../../core/protocol/grid.ts';
import { generateKeyPair, signTagged } from '../../core/protocol/identity.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import {
  cleanup,
  type SpawnedServer,
  spawnRelay,
  spawnServer,
  startTestRelay,
  startTestServer,
  tempDir,
} from '../harness/grid.ts';
import { runCairn } from '../harness/cli.ts';
import { waitFor } from '../harness/wait.ts';
import { HeardServers } from '../../relay/heard-servers.ts';
import { DEFAULT_RELAY_LIMITS } from '../../relay/limits.ts';

const TIMEOUT = 180_000;

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  cleanup();
});

/** The server ids a server (or relay) lists at GET /v1/servers. */
async function listedBy(url: string): Promise<string[]> {
  return (await fetchGridServers(url, { timeoutMs: 3_000 })).map((s) => s.serverId).sort();
}

async function listsExactly(url: string, ids: string[], what: string, timeoutMs?: number): Promise<void> {
  const want = [...ids].sort();
  await waitFor(async () => JSON.stringify(await listedBy(url)) === JSON.stringify(want), {
    what,
    timeoutMs,
    detail: async () => `it lists ${(await listedBy(url)).length} of ${want.length}`,
  });
}

async function spawnTracked(opts: Parameters<typeof spawnServer>[0]): Promise<SpawnedServer> {
  const s = await spawnServer({ bundled: true, ...opts });
  stops.push(() => s.stop());
  return s;
}

function origin(s: SpawnedServer): string {
  return gridOrigin(s.url as string);
}

async function put(file: string, grid: string, home: string, k: number, happy: number, n: number) {
  const r = await runCairn(
    ['put', file, '--grid', grid, '--k', String(k), '--happy', String(happy), '--n', String(n)],
    home,
  );
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function get(cap: string, grid: string, home: string, out: string): Promise<Uint8Array> {
  const r = await runCairn(['get', cap, out, '--grid', grid], home);
  expect(r.code, r.stderr).toBe(0);
  return new Uint8Array(await fs.readFile(out));
}

describe('gossip between servers (real processes)', () => {
  it(
    'the relay killed: uploads and downloads still work, a new server joins through another and clients learn of it',
    async () => {
      const relay = await spawnRelay();
      stops.push(() => relay.stop());
      // One at a time, so each new server finds the earlier ones on the relay's list at start
      // and tells them of itself at once (otherwise they would meet at the next round, 60 s).
      const servers: SpawnedServer[] = [];
      for (let i = 0; i < 3; i++) {
        servers.push(await spawnTracked({ relayUrl: relay.url, nickname: `s${i}` }));
        await listsExactly(
          relay.url,
          servers.map((s) => s.serverId),
          `the relay to list ${i + 1} servers`,
        );
      }
      const ids = servers.map((s) => s.serverId);
      for (const s of servers)
        await listsExactly(origin(s), ids, `server ${s.serverId.slice(0, 8)} to know all three`);

      const home = tempDir('cairn-home-');
      const work = tempDir('cairn-files-');
      const first = new Uint8Array(200_000).map((_, i) => (i * 7 + 3) & 0xff);
      await fs.writeFile(path.join(work, 'first'), first);
      const firstCap = await put(path.join(work, 'first'), relay.url, home, 2, 3, 3);

      await relay.stop('SIGKILL');

      // The client's grid URL is the dead relay: it asks the servers it saw last instead.
      const second = new Uint8Array(150_000).map((_, i) => (i * 13 + 1) & 0xff);
      await fs.writeFile(path.join(work, 'second'), second);
      const secondCap = await put(path.join(work, 'second'), relay.url, home, 2, 3, 3);
      expectBytesEqual(await get(firstCap, relay.url, home, path.join(work, 'first.out')), first);
      expectBytesEqual(await get(secondCap, relay.url, home, path.join(work, 'second.out')), second);

      // A server with no relay joins through one server; the others hear of it from that one.
      const late = await spawnTracked({ peers: [servers[1].url as string], nickname: 'late' });
      const all = [...ids, late.serverId];
      for (const s of [...servers, late]) {
        await listsExactly(origin(s), all, `server ${s.serverId.slice(0, 8)} to know all four`);
      }
      // Clients learn of it: happiness 4 needs all four servers, the late one included.
      const third = new Uint8Array(100_000).map((_, i) => (i * 31 + 5) & 0xff);
      await fs.writeFile(path.join(work, 'third'), third);
      const thirdCap = await put(path.join(work, 'third'), relay.url, home, 2, 4, 4);
      const lateShares = await fs.readdir(path.join(late.dir, 'storage', 'shares'), { recursive: true });
      expect(lateShares.length).toBeGreaterThan(0);

      // A fresh client with no cache bootstraps from the late server's URL alone.
      const fresh = tempDir('cairn-home-');
      expectBytesEqual(await get(thirdCap, late.url as string, fresh, path.join(work, 'third.out')), third);
      expectBytesEqual(await get(firstCap, origin(late), fresh, path.join(work, 'first.again')), first);

      // The relay back on its port: the three servers link again (their backoff reaches 30 s),
      // and the late one, which never links to it, is heard of through their lists, so a
      // client that knows only the relay finds all four.
      const back = await spawnRelay({ port: Number(new URL(relay.url).port) });
      stops.push(() => back.stop());
      await listsExactly(relay.url, all, 'the restarted relay to list the four servers', 90_000);
      const viaRelay = tempDir('cairn-home-');
      const fourth = new Uint8Array(90_000).map((_, i) => (i * 17 + 9) & 0xff);
      await fs.writeFile(path.join(work, 'fourth'), fourth);
      const fourthCap = await put(path.join(work, 'fourth'), relay.url, viaRelay, 2, 4, 4);
      expectBytesEqual(await get(fourthCap, relay.url, viaRelay, path.join(work, 'fourth.out')), fourth);
    },
    TIMEOUT,
  );
});

/** POSTs a list of announcements to a server's /v1/announce; returns its receipt. */
async function push(url: string, list: SignedAnnouncement[]) {
  const res = await fetch(`${gridOrigin(url)}/v1/announce`, {
    method: 'POST',
    body: encodeServerList(list) as Uint8Array<ArrayBuffer>,
  });
  expect(res.status).toBe(200);
  return decodeCbor(new Uint8Array(await res.arrayBuffer()), 1 << 20) as {
    accepted: number;
    known: number;
    refusedCount: number;
    refused: Array<{ c: string; m: string }>;
  };
}

async function announcementOf(url: string, serverId: string): Promise<SignedAnnouncement> {
  const s = (await fetchGridServers(url)).find((x) => x.serverId === serverId);
  if (!s) throw new Error(`${url} does not list ${serverId}`);
  return s.signed;
}

describe('gossip refuses what the relay refuses', () => {
  it(
    'forged and replayed announcements are refused by every server and never passed on',
    async () => {
      // The relay pulls its linked server's list often here (every minute by default).
      const relay = await startTestRelay({
        limits: { heard: { ...DEFAULT_RELAY_LIMITS.heard, intervalMs: 300 } },
      });
      stops.push(() => relay.close());
      const a = await startTestServer({ relayUrl: relay.url, nickname: 'a' });
      stops.push(() => a.close());
      const b = await startTestServer({ peers: [a.url as string], nickname: 'b' });
      stops.push(() => b.close());
      const c = await startTestServer({ peers: [b.url as string], nickname: 'c' });
      stops.push(() => c.close());
      const ids = [a.serverId, b.serverId, c.serverId];
      for (const s of [a, b, c]) await listsExactly(s.url as string, ids, 'every server to know all three');
      // b and c never link to the relay: it hears of them through a's list.
      await listsExactly(relay.url, ids, 'the relay to list a, and b and c heard of through a');
      // Any page may read a server's list (it is public and signed), and follow it as the relay's.
      const res = await fetch(`${gridOrigin(c.url as string)}/v1/servers`);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      const sub = subscribeToGrid(gridOrigin(c.url as string), () => {});
      stops.push(async () => sub.close());
      expect((await sub.ready).map((s) => s.serverId).sort()).toEqual([...ids].sort());

      // The relay's copy of a's announcement; then a renews, to the relay and to gossip.
      const old = await announcementOf(relay.url, a.serverId);
      await a.relayLink?.announce();
      await a.gossip.renew();
      for (const url of [relay.url, b.url as string, c.url as string]) {
        await waitFor(
          async () => {
            const held = await announcementOf(url, a.serverId);
            return !Buffer.from(held.body).equals(Buffer.from(old.body));
          },
          { what: "a's renewal to reach the relay and every server" },
        );
      }

      // Forged: a's latest body with a later seq and a different URL, a's signature kept.
      const current = await announcementOf(a.url as string, a.serverId);
      const fields = decodeCbor(current.body, 4096) as Record<string, unknown>;
      const moved = { ...fields, seq: (fields.seq as number) + 1000, url: 'ws://127.0.0.1:9/v1/storage' };
      const tampered = { body: encodeCbor(moved), signature: current.signature };
      // Forged: a body naming a, signed by a stranger's key.
      const stranger = generateKeyPair();
      const impostorBody = encodeCbor({ ...moved, nickname: 'impostor' });
      const impostor = {
        body: impostorBody,
        signature: signTagged(stranger, 'cairn-announcement-v1', impostorBody),
      };

      for (const s of [a, b, c]) {
        const r = await push(s.url as string, [tampered, impostor, old]);
        expect(r.accepted).toBe(0);
        expect(r.refusedCount).toBe(3);
        expect(r.refused.map((x) => x.c)).toEqual([
          'BAD_ANNOUNCEMENT',
          'BAD_ANNOUNCEMENT',
          'BAD_ANNOUNCEMENT',
        ]);
        expect(r.refused[0].m).toMatch(/bad signature/);
        expect(r.refused[1].m).toMatch(/bad signature/);
        expect(r.refused[2].m).toMatch(/a replay/);
      }
      // Bounded: more than 64 entries in one push, or a body larger than 64 of them could be.
      const post = (body: Uint8Array) =>
        fetch(`${gridOrigin(b.url as string)}/v1/announce`, {
          method: 'POST',
          body: body as Uint8Array<ArrayBuffer>,
        });
      const tooMany = await post(encodeServerList(Array.from({ length: 65 }, () => current)));
      expect(tooMany.status).toBe(400);
      expect(await tooMany.text()).toMatch(/more than 64/);
      expect((await post(new Uint8Array(2 * 1024 * 1024))).status).toBe(413);
      // The relay refuses the same replay over a link (its own code: relay/registry.ts).
      expect(() => relay.registry.announce(old, { isOpen: () => false, probe: () => {} } as never)).toThrow(
        /a replay|linked/,
      );
      // What the relay hears of is judged the same way: forgeries of b are refused, b's own
      // announcement taken once, and a (linked: its link speaks for it) passed over.
      const bNow = await announcementOf(b.url as string, b.serverId);
      const bFields = decodeCbor(bNow.body, 4096) as Record<string, unknown>;
      const bMoved = { ...bFields, seq: (bFields.seq as number) + 1000, url: 'ws://127.0.0.1:9/v1/storage' };
      const bImpostorBody = encodeCbor({ ...bMoved, nickname: 'impostor' });
      const hearing = new HeardServers({
        limits: DEFAULT_RELAY_LIMITS.heard,
        sources: () => [],
        isLinked: (id) => id === a.serverId,
      });
      stops.push(async () => hearing.stop());
      expect(
        hearing.take([
          { body: encodeCbor(bMoved), signature: bNow.signature },
          { body: bImpostorBody, signature: signTagged(stranger, 'cairn-announcement-v1', bImpostorBody) },
          current,
        ]),
      ).toBe(0);
      expect(hearing.book.size).toBe(0);
      expect(hearing.take([bNow, bNow])).toBe(1);
      expect(hearing.book.announcements().map((x) => x.serverId)).toEqual([b.serverId]);
      // Nobody lists anything but the genuine servers, and every one holds a's latest.
      const latest = await announcementOf(a.url as string, a.serverId);
      await listsExactly(relay.url, ids, 'the relay to still list just the three');
      for (const s of [a, b, c]) {
        await listsExactly(s.url as string, ids, 'every server to still list just the three');
        const seqOf = async (url: string) =>
          (decodeCbor((await announcementOf(url, a.serverId)).body, 4096) as { seq: number }).seq;
        const want = (decodeCbor(latest.body, 4096) as { seq: number }).seq;
        await waitFor(async () => (await seqOf(s.url as string)) === want, {
          what: "every server to hold a's latest announcement",
          detail: async () => `it holds seq ${await seqOf(s.url as string)}, the latest is ${want}`,
        });
      }
    },
    TIMEOUT,
  );
});
