/**
 * The grid end to end with real processes on 127.0.0.1: a relay, storage servers (one of
 * them reachable only through the relay), and `cairn put` / `cairn get` as child processes.
 * Servers are stopped, restarted, killed mid-upload, and made to serve flipped bits; every
 * download is compared byte for byte, and no server file, log or received frame may hold
 * the plaintext, the key or the cap.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChkCap, formatCap, parseCap } from '../../core/caps/immutable.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { downloadImmutable } from '../../core/grid/downloader.ts';
import { UploadUnhappinessError } from '../../core/grid/errors.ts';
import { uploadImmutable } from '../../core/grid/uploader.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { connectOverTransport, type StorageConnection } from '../../core/protocol/client.ts';
import { fetchGridServers, type GridServer, serverRoutes } from '../../core/protocol/grid.ts';
import type { StorageServerApi } from '../../core/protocol/storage-api.ts';
import { openWebSocketTransport } from '../../core/protocol/transport.ts';
import { chkStorageIndex } from '../../core/caps/immutable.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import {
  cleanup,
  type SpawnedRelay,
  type SpawnedServer,
  spawnRelay,
  spawnServer,
  tempDir,
} from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import { runCairn } from '../harness/cli.ts';

const MARKER = 'cairn-plaintext-marker';
const TIMEOUT = 180_000;

interface ProcGrid {
  relay: SpawnedRelay;
  servers: SpawnedServer[];
  stopAll(): Promise<void>;
}

let running: ProcGrid | undefined;
afterEach(async () => {
  await running?.stopAll();
  running = undefined;
  cleanup();
});

/** A relay and `count` servers; the last `relayOnly` listen nowhere. Waits until the relay lists them all. */
async function startProcGrid(count: number, relayOnly = 0): Promise<ProcGrid> {
  const relay = await spawnRelay();
  const servers = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      spawnServer({ relayUrl: relay.url, port: i >= count - relayOnly ? null : 0, nickname: `s${i}` }),
    ),
  );
  const grid = {
    relay,
    servers,
    async stopAll() {
      await Promise.all(servers.map((s) => s.stop()));
      await relay.stop();
    },
  };
  running = grid;
  await relayLists(relay.url, count);
  return grid;
}

/** Waits until the relay lists exactly `count` servers (started ones announced, stopped ones gone). */
async function relayLists(relayUrl: string, count: number): Promise<void> {
  const listed = async () => (await fetchGridServers(relayUrl)).length;
  await waitFor(async () => (await listed()) === count, {
    what: `the relay to list ${count} servers`,
    detail: async () => `it lists ${await listed()}`,
  });
}

/** Plaintext in which any leaked piece would show the marker. */
function markedPlaintext(size: number, seed: number): Uint8Array {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let at = 0; at < size; ) {
    const line = `${MARKER} ${at.toString(16).padStart(10, '0')} `;
    at += out.write(line, at);
    for (let i = 0; i < 40 && at < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      out[at++] = x >>> 24;
    }
  }
  return out;
}

function cairn(
  args: string[],
  home: string,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return runCairn(args, home).then((r) => ({ code: r.code, stdout: r.stdoutBytes, stderr: r.stderr }));
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

/** Which server holds which share (by listing through each one's connection). */
async function holdings(conns: StorageConnection[], cap: ChkCap): Promise<Map<number, number[]>> {
  const si = chkStorageIndex(cap.key);
  const out = new Map<number, number[]>();
  for (let i = 0; i < conns.length; i++) out.set(i, [...(await conns[i].listShares(si))]);
  return out;
}

/** Connections to every listed server, in the order of `servers`; `sent` collects every frame the client sends. */
async function connectAll(
  relayUrl: string,
  servers: SpawnedServer[],
  sent?: Uint8Array[],
): Promise<StorageConnection[]> {
  const listed = new Map<string, GridServer>((await fetchGridServers(relayUrl)).map((s) => [s.serverId, s]));
  return Promise.all(
    servers.map(async (s) => {
      const g = listed.get(s.serverId);
      if (!g) throw new Error(`server ${s.serverId} is not listed by the relay`);
      const transport = await openWebSocketTransport(serverRoutes(g, relayUrl)[0]);
      if (sent) {
        const send = transport.send.bind(transport);
        transport.send = (frame) => {
          sent.push(frame.slice());
          send(frame);
        };
      }
      return connectOverTransport(transport, s.serverId);
    }),
  );
}

function expectNoSecrets(haystack: Buffer, cap: ChkCap, where: string): void {
  const needles = [
    Buffer.from(MARKER),
    Buffer.from(formatCap(cap)),
    Buffer.from(cap.key),
    Buffer.from(base32Encode(cap.key)),
  ];
  for (const n of needles) {
    if (haystack.includes(n))
      expect.fail(`${where} contains ${n === needles[0] ? 'plaintext' : 'the cap or key'}`);
  }
}

describe('grid with real processes', () => {
  it(
    'put 20 MiB (3,7,10) to 10 servers, stop 7, get it back byte-equal; a relay-only server takes part; nothing leaks',
    async () => {
      const grid = await startProcGrid(10, 1);
      const home = tempDir('cairn-home-');
      const work = tempDir('cairn-files-');
      const data = markedPlaintext(20 * 1024 * 1024, 1);
      const file = path.join(work, 'in.bin');
      await fs.writeFile(file, data);

      const put = await cairn(
        ['put', file, '--grid', grid.relay.url, '--k', '3', '--happy', '7', '--n', '10'],
        home,
      );
      expect(put.stderr).toBe('');
      expect(put.code).toBe(0);
      const capText = put.stdout.toString().trim();
      expect(capText).toMatch(/^URI:CHK:[a-z2-7]{26}:[a-z2-7]{52}:3:10:20971520$/);
      const cap = parseCap(capText) as ChkCap;

      const conns = await connectAll(grid.relay.url, grid.servers);
      const held = await holdings(conns, cap);
      for (const c of conns) c.close();
      expect([...held.values()].map((h) => h.length)).toEqual(Array(10).fill(1));
      const relayOnly = 9;
      expect(held.get(relayOnly)!.length).toBe(1);

      // Keep the relay-only server and two others; stop seven.
      const keep = new Set([relayOnly, 0, 1]);
      await Promise.all(grid.servers.map((s, i) => (keep.has(i) ? null : s.stop())));
      const out = path.join(work, 'out.bin');
      const get = await cairn(['get', capText, out, '--grid', grid.relay.url], home);
      expect(get.code).toBe(0);
      expectBytesEqual(await fs.readFile(out), data, 'downloaded file');
      const toStdout = await cairn(['get', capText, '--grid', grid.relay.url], home);
      expect(toStdout.code).toBe(0);
      expectBytesEqual(toStdout.stdout, data, 'downloaded stdout');

      for (const s of grid.servers) {
        for (const f of await filesUnder(s.dir))
          expectNoSecrets(await fs.readFile(f), cap, `server file ${f}`);
        expectNoSecrets(Buffer.from(s.output()), cap, 'a server log');
      }
      expectNoSecrets(Buffer.from(grid.relay.output()), cap, 'the relay log');
    },
    TIMEOUT,
  );

  it(
    'keeps going when servers die mid-upload while happiness holds, fails clearly when not; frames carry no secrets',
    async () => {
      const grid = await startProcGrid(10);
      const codec = await loadCodec();
      const sent: Uint8Array[] = [];
      const conns = await connectAll(grid.relay.url, grid.servers, sent);
      const data = markedPlaintext(6 * 1024 * 1024, 2);
      let writes = 0;
      const killAfter = (n: number, victims: SpawnedServer[]) =>
        conns.map((c) =>
          intercept(c, 'writeShare', () => {
            if (++writes === n) for (const v of victims) void v.stop('SIGKILL');
          }),
        );
      const lost: string[] = [];
      const params = { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 };
      const common = {
        params,
        clientSecret: new Uint8Array(32).fill(1),
        convergence: new Uint8Array(16).fill(2),
        tools: { backend: nodeCrypto, codec },
      };
      const r = await uploadImmutable(bytesSource(data), {
        ...common,
        servers: killAfter(30, grid.servers.slice(0, 3)),
        onServerLost: (id) => lost.push(id),
      });
      expect(lost.sort()).toEqual(
        grid.servers
          .slice(0, 3)
          .map((s) => s.serverId)
          .sort(),
      );
      expect(r.happiness).toBe(7);
      const cap = r.cap as ChkCap;
      const parts: Uint8Array[] = [];
      for await (const p of downloadImmutable(cap, { servers: conns.slice(3), tools: common.tools }))
        parts.push(p);
      expectBytesEqual(Buffer.concat(parts), data, 'download after losing 3 servers');
      expectNoSecrets(Buffer.concat(sent), cap, 'the frames servers received');

      // Four more die during a second upload: only 3 of 7 remain, below happy.
      writes = 0;
      const err = await uploadImmutable(bytesSource(markedPlaintext(6 * 1024 * 1024, 3)), {
        ...common,
        servers: killAfter(30, grid.servers.slice(3, 7)).slice(3),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(UploadUnhappinessError);
      // It fails at the first loss that leaves happiness below 7, not after all four.
      expect(err.counts).toMatchObject({ serversFound: 7, happiness: 6, happy: 7 });
      expect(err.message).toMatch(/happy=7/);
      for (const c of conns) c.close();

      // The CLI says the same with the exit code and the counts.
      const home = tempDir('cairn-home-');
      const file = path.join(tempDir('cairn-files-'), 'f.bin');
      await fs.writeFile(file, markedPlaintext(100_000, 4));
      const put = await cairn(['put', file, '--grid', grid.relay.url], home);
      expect(put.code).toBe(1);
      expect(put.stderr).toMatch(/found only 3 storage server\(s\).*happy=7.*\[UNHAPPY\]/s);
    },
    TIMEOUT,
  );

  it(
    'works from the cached server list while the relay is down',
    async () => {
      const grid = await startProcGrid(5);
      const home = tempDir('cairn-home-');
      const work = tempDir('cairn-files-');
      const data = markedPlaintext(1024 * 1024, 6);
      const file = path.join(work, 'in.bin');
      await fs.writeFile(file, data);
      const put = await cairn(
        ['put', file, '--grid', grid.relay.url, '--k', '2', '--happy', '4', '--n', '5'],
        home,
      );
      expect(put.code).toBe(0);
      // A cap this grid has never seen: the error says where it looked.
      const unknown = `URI:CHK:${'b'.repeat(25)}a:${'c'.repeat(51)}a:2:5:1000000`;
      const miss = await cairn(['get', unknown, '--grid', grid.relay.url], home);
      expect(miss.code).toBe(1);
      expect(miss.stderr).toMatch(/need 2 good shares, have 0, from the 5 reachable server\(s\) of http:/);
      expect(miss.stderr).not.toContain('bbbbbbbbbb');
      await grid.relay.stop();
      // The relay's URL is still given; only the server list comes from the cache.
      const get = await cairn(['get', put.stdout.toString().trim(), '--grid', grid.relay.url], home);
      expect(get.code).toBe(0);
      expectBytesEqual(get.stdout, data, 'download with the relay down');
      expect(get.stderr).toMatch(/cannot reach the relay.*using the 5 server\(s\) it listed last time/);
    },
    TIMEOUT,
  );

  it(
    'reads shares back from a restarted server, and routes around servers whose disks flip bits',
    async () => {
      const grid = await startProcGrid(10);
      const home = tempDir('cairn-home-');
      const work = tempDir('cairn-files-');
      const data = markedPlaintext(3 * 1024 * 1024 + 17, 5);
      const file = path.join(work, 'in.bin');
      await fs.writeFile(file, data);
      const put = await cairn(['put', file, '--grid', grid.relay.url], home);
      expect(put.code).toBe(0);
      const capText = put.stdout.toString().trim();
      const cap = parseCap(capText) as ChkCap;
      const conns = await connectAll(grid.relay.url, grid.servers);
      const held = await holdings(conns, cap);
      for (const c of conns) c.close();
      const holderOf = (sh: number) => [...held].find(([, shares]) => shares.includes(sh))![0];

      // Restart the holder of share 0 on its folder: same identity, same shares.
      const h0 = holderOf(0);
      const old = grid.servers[h0];
      await old.stop();
      grid.servers[h0] = await spawnServer({ dir: old.dir, relayUrl: grid.relay.url, port: 0 });
      expect(grid.servers[h0].serverId).toBe(old.serverId);
      // Flip bits on disk in the shares of the holders of shares 1 and 2.
      const si = base32Encode(chkStorageIndex(cap.key));
      for (const sh of [1, 2]) {
        const f = path.join(
          grid.servers[holderOf(sh)].dir,
          'storage',
          'shares',
          si.slice(0, 2),
          si,
          String(sh),
        );
        const bytes = await fs.readFile(f);
        for (let at = 1000; at < bytes.length - 2000; at += 100_000) bytes[at] ^= 0x04;
        await fs.writeFile(f, bytes);
      }
      // Only share 0's holder, the two liars and two honest others remain.
      const keep = new Set([h0, holderOf(1), holderOf(2), holderOf(3), holderOf(4)]);
      await Promise.all(grid.servers.map((s, i) => (keep.has(i) ? null : s.stop())));
      await relayLists(grid.relay.url, 5);
      const out = path.join(work, 'out.bin');
      const get = await cairn(['get', capText, out, '--grid', grid.relay.url], home);
      expect(get.code).toBe(0);
      expectBytesEqual(await fs.readFile(out), data, 'download past flipped bits');
      expect(get.stderr).toMatch(/share 1: .*fails its hash/);
      expect(get.stderr).toMatch(/share 2: .*fails its hash/);
      // Each liar was told, and keeps the advisory on disk (the client does not wait for the
      // server to write it, so it may land just after `cairn get` has exited).
      for (const sh of [1, 2]) {
        const dir = path.join(grid.servers[holderOf(sh)].dir, 'storage', 'corruption-advisories');
        const texts = await waitFor(
          async () => {
            const names = await fs.readdir(dir);
            return names.length > 0 && Promise.all(names.map((n) => fs.readFile(path.join(dir, n), 'utf8')));
          },
          { what: `a corruption advisory in ${dir}` },
        );
        expect(texts.join('\n')).toContain(`immutable share ${sh} of storage index ${si}\n`);
      }
    },
    TIMEOUT,
  );
});

function intercept(
  api: StorageServerApi,
  method: keyof StorageServerApi,
  hook: () => void,
): StorageServerApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop !== method) return v.bind(target);
      return (...args: unknown[]) => {
        hook();
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
