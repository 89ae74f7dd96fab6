/**
 * Keeping files alive with real server processes: check finds what is missing, verify names
 * exactly the shares whose bytes were flipped on disk, repair rebuilds shares on servers that
 * hold none (immutable: from a verify cap alone; mutable: republished with the write cap), and
 * the file survives losing the servers that held it before.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCapability, storageIndexOf } from '../../core/caps/index.ts';
import { Grid, memoryServerListCache, readAll } from '../../core/client/index.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import type { StorageIndex } from '../../core/types.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { cleanup, type SpawnedRelay, type SpawnedServer, spawnRelay, spawnServer } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';

const TIMEOUT = 240_000;
let relay: SpawnedRelay;
let servers: SpawnedServer[];
let codec: Awaited<ReturnType<typeof loadCodec>>;

function client(secretByte = 1): Grid {
  return new Grid({
    url: relay.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec }),
    secrets: async () => ({ lease: new Uint8Array(32).fill(secretByte), convergence: new Uint8Array(32) }),
  });
}

async function startGrid(): Promise<void> {
  relay = await spawnRelay();
  servers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      spawnServer({ relayUrl: relay.url, nickname: `c${i}`, bundled: true }),
    ),
  );
  await waitFor(async () => (await fetchGridServers(relay.url)).length === 10, {
    what: 'the relay to list 10 servers',
  });
}

async function stopGrid(): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
  await relay.stop();
}

beforeAll(async () => {
  codec = await loadCodec();
}, TIMEOUT);
afterAll(() => cleanup());

/** Share files of `si` on a server's disk: shnum -> path. */
async function sharesOn(server: SpawnedServer, si: StorageIndex): Promise<Map<number, string>> {
  const b = base32Encode(si);
  const dir = path.join(server.dir, 'storage', 'shares', b.slice(0, 2), b);
  const out = new Map<number, string>();
  for (const name of await fs.readdir(dir).catch(() => [] as string[]))
    out.set(Number(name), path.join(dir, name));
  return out;
}

describe('check, verify and repair on real server processes', () => {
  beforeAll(startGrid, TIMEOUT);
  afterAll(stopGrid);

  it(
    'CHK: 6 of 10 servers lose their shares; check says so; repair (verify cap only) restores 10 on 10; the 4 first holders stopped, it still reads',
    async () => {
      const grid = client();
      const data = pattern(700_000, 3);
      try {
        const { node } = await grid.upload(bytesSource(data), {
          params: { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 },
        });
        const si = storageIndexOf(parseCapability(node.cap))!;
        const before = await node.check();
        expect(before.healthy).toBe(true);
        expect(before.summary).toMatch(/10 of 10 shares on 10 server\(s\) — healthy/);

        // Six servers lose their share files.
        const losers = servers.slice(0, 6);
        for (const s of losers) for (const file of (await sharesOn(s, si)).values()) await fs.rm(file);
        const verifier = grid.open(node.verifyCap!);
        const hurt = await verifier.check();
        expect(hurt.healthy).toBe(false);
        expect(hurt.recoverable).toBe(true);
        expect(hurt.distinctGoodShares).toBe(4);

        const fixed = await verifier.check({ repair: true });
        expect(fixed.repair?.error).toBeUndefined();
        expect(fixed.repair?.succeeded).toBe(true);
        expect(fixed.repair?.after?.distinctGoodShares).toBe(10);
        expect(fixed.repair?.after?.serversWithShares).toBe(10);
        // Only the missing share numbers were written, each on a server that held none.
        const written = fixed.repair!.written.flatMap((w) => w.shares);
        expect(written.sort((a, b) => a - b)).toEqual(
          [...Array(10).keys()].filter((sh) => !hurt.holdings.some((h) => h.shnum === sh)),
        );
        for (const w of fixed.repair!.written)
          expect(hurt.holdings.some((h) => h.server === w.server)).toBe(false);
        const verified = await verifier.check({ verify: true });
        expect(verified.healthy).toBe(true);
        expect(verified.corrupt).toEqual([]);

        // The four servers that held the file before are stopped: it reads from the repaired shares.
        const firstHolders = servers.filter((s) => hurt.holdings.some((h) => h.server === s.serverId));
        expect(firstHolders).toHaveLength(4);
        for (const s of firstHolders) await s.stop();
        const reader = client(2);
        try {
          expectBytesEqual(
            await readAll(reader.open(node.cap)),
            data,
            'after repair, without the first holders',
          );
        } finally {
          reader.close();
        }
        // Bring them back for the next test.
        for (const s of firstHolders) {
          const i = servers.indexOf(s);
          servers[i] = await spawnServer({
            dir: s.dir,
            relayUrl: relay.url,
            nickname: `c${i}`,
            bundled: true,
          });
        }
        await waitFor(async () => (await fetchGridServers(relay.url)).length === 10, {
          what: 'the restarted servers to rejoin',
        });
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );

  it(
    'CHK: bytes flipped in two shares on disk: verify names exactly those two, repair places good copies',
    async () => {
      const grid = client();
      const data = pattern(500_000, 4);
      try {
        const { node } = await grid.upload(bytesSource(data), {
          params: { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 },
        });
        const si = storageIndexOf(parseCapability(node.cap))!;
        const flipped: { server: string; shnum: number }[] = [];
        for (const [i, offset] of [
          [2, 12 + 0x44 + 1000], // a block
          [7, -40], // inside the UEB at the end of the share data (before 72 bytes of lease)
        ] as const) {
          const [[shnum, file]] = [...(await sharesOn(servers[i], si))];
          const bytes = await fs.readFile(file);
          const at = offset >= 0 ? offset : bytes.length - 72 + offset;
          bytes[at] ^= 0x10;
          await fs.writeFile(file, bytes);
          flipped.push({ server: servers[i].serverId, shnum });
        }
        const plain = await node.check();
        expect(plain.healthy).toBe(true); // a check without verify does not read the bytes
        const verified = await node.check({ verify: true });
        expect(
          verified.corrupt
            .map((c) => ({ server: c.server, shnum: c.shnum }))
            .sort((a, b) => a.shnum - b.shnum),
        ).toEqual(flipped.sort((a, b) => a.shnum - b.shnum));
        for (const c of verified.corrupt) expect(c.reason).toMatch(new RegExp(`^share ${c.shnum}: `));
        expect(verified.healthy).toBe(false);

        const repaired = await node.check({ verify: true, repair: true });
        expect(repaired.repair?.succeeded).toBe(true);
        const rewritten = repaired.repair!.written.flatMap((w) => w.shares).sort((a, b) => a - b);
        expect(rewritten).toEqual(flipped.map((f) => f.shnum).sort((a, b) => a - b));
        const after = await node.check({ verify: true });
        expect(after.healthy).toBe(true);
        expect(after.distinctGoodShares).toBe(10);
        expectBytesEqual(await readAll(grid.open(node.cap)), data, 'after repair');
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );

  it(
    'mutable: lost and corrupt shares are found; repair with the write cap republishes; a read cap cannot repair',
    async () => {
      const grid = client();
      const data = pattern(400_000, 5);
      try {
        const node = await grid.createMutable(data, { format: 'mdmf' });
        const si = storageIndexOf(parseCapability(node.cap))!;
        expect((await node.check({ verify: true })).healthy).toBe(true);
        for (const s of servers.slice(0, 3))
          for (const file of (await sharesOn(s, si)).values()) await fs.rm(file);
        const [[, victim]] = [...(await sharesOn(servers[5], si))];
        const bytes = await fs.readFile(victim);
        bytes[468 + 2167 + 100] ^= 0x01; // inside the first segment's block
        await fs.writeFile(victim, bytes);

        const ro = grid.open(node.readCap!);
        const seen = await ro.check({ verify: true, repair: true });
        expect(seen.healthy).toBe(false);
        expect(seen.distinctGoodShares).toBe(6);
        expect(seen.corrupt).toHaveLength(1);
        expect(seen.corrupt[0].server).toBe(servers[5].serverId);
        expect(seen.repair?.attempted).toBe(false);
        expect(seen.repair?.error).toMatch(/needs its write cap/);

        const fixed = await node.check({ verify: true, repair: true });
        expect(fixed.repair?.error).toBeUndefined();
        expect(fixed.repair?.succeeded).toBe(true);
        expect(fixed.repair?.after?.distinctGoodShares).toBe(10);
        const after = await ro.check({ verify: true });
        expect(after.healthy).toBe(true);
        expect(after.versions).toHaveLength(1);
        expectBytesEqual(await readAll(ro), data, 'after mutable repair');
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );
});
