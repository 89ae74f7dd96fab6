/**
 * The download pulls from the fastest holders, with real server processes on 127.0.0.1:
 * every server is reached through a TCP proxy started here, and the holders of two primary
 * shares are made slow by theirs (one answers late and trickles, one only trickles). Most
 * bytes must come from the fast servers: the proxies count what each server sent. Nothing
 * is timed; the assertions are about which servers were used.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ChkCap, chkStorageIndex } from '../../core/caps/immutable.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { downloadImmutable } from '../../core/grid/downloader.ts';
import type { ReadEvent } from '../../core/grid/share-reader.ts';
import { uploadImmutable } from '../../core/grid/uploader.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { connectOverTransport, type StorageConnection } from '../../core/protocol/client.ts';
import { openWebSocketTransport } from '../../core/protocol/transport.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { cleanup, type SpawnedRelay, type SpawnedServer, spawnRelay, spawnServer } from '../harness/grid.ts';
import { startProxy, type TcpProxy, type Throttle } from '../harness/proxy.ts';

const TIMEOUT = 180_000;
const MiB = 1024 * 1024;

let relay: SpawnedRelay | undefined;
let servers: SpawnedServer[] = [];
let proxies: TcpProxy[] = [];
let conns: StorageConnection[] = [];
afterEach(async () => {
  for (const c of conns) c.close();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.stop()));
  await relay?.stop();
  relay = undefined;
  servers = [];
  proxies = [];
  conns = [];
  cleanup();
});

async function connect(server: SpawnedServer, port?: number): Promise<StorageConnection> {
  const url = new URL(server.url!);
  if (port !== undefined) url.port = String(port);
  return connectOverTransport(await openWebSocketTransport(url.toString()), server.serverId);
}

describe('download from the fastest holders (real processes, throttled proxies)', () => {
  it(
    'reads most bytes from fast servers when holders of primary shares are slow, and stays on primaries when all are equal',
    async () => {
      relay = await spawnRelay();
      servers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          spawnServer({ relayUrl: relay!.url, nickname: `r${i}`, bundled: true }),
        ),
      );
      const tools = { backend: nodeCrypto, codec: await loadCodec() };
      const direct = await Promise.all(servers.map((s) => connect(s)));
      conns.push(...direct);
      const data = pattern(12 * MiB + 1234, 11);
      const up = await uploadImmutable(bytesSource(data), {
        servers: direct,
        params: { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 },
        clientSecret: new Uint8Array(32).fill(3),
        convergence: new Uint8Array(16).fill(4),
        tools,
      });
      const cap = up.cap as ChkCap;
      const si = chkStorageIndex(cap.key);
      const held = await Promise.all(direct.map((c) => c.listShares(si)));
      expect(held.map((h) => h.length)).toEqual(Array(10).fill(1));
      const holderOf = (sh: number) => held.findIndex((h) => h.includes(sh as never));

      /** Downloads through one proxy per server; returns per-server bytes (proxy counts and reads seen). */
      const downloadVia = async (throttles: Map<number, Throttle>) => {
        const px = await Promise.all(
          servers.map((s) => startProxy(Number(new URL(s.url!).port), throttles.get(servers.indexOf(s)))),
        );
        proxies.push(...px);
        const via = await Promise.all(servers.map((s, i) => connect(s, px[i].port)));
        conns.push(...via);
        const before = px.map((p) => p.toClient());
        const reads: ReadEvent[] = [];
        const switches: [number, number][] = [];
        const parts: Uint8Array[] = [];
        for await (const p of downloadImmutable(cap, {
          servers: via,
          tools,
          onRead: (e) => reads.push(e),
          onSwitch: (from, to) => switches.push([from, to]),
        })) {
          parts.push(p.slice());
        }
        expectBytesEqual(Buffer.concat(parts), data, 'download through proxies');
        const sent = px.map((p, i) => p.toClient() - before[i]);
        const readBy = servers.map((s) =>
          reads.filter((r) => r.serverId === s.serverId).reduce((a, r) => a + r.bytes, 0),
        );
        const readOf = (sh: number) => reads.filter((r) => r.shnum === sh).reduce((a, r) => a + r.bytes, 0);
        return { sent, readBy, readOf, switches };
      };
      const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

      // Share 0's holder is far away and thin; share 1's holder only thin (its answer to
      // "which shares?" is as quick as anyone's, so only its reads can give it away).
      const far = holderOf(0);
      const thin = holderOf(1);
      const slow = await downloadVia(
        new Map([
          [far, { delayMs: 150, bytesPerSec: 1_000_000 }],
          [thin, { bytesPerSec: 1_000_000 }],
        ]),
      );
      const slowBytes = slow.sent[far] + slow.sent[thin];
      // Primary shares first would take two thirds of the bytes (8 MiB) from these two.
      expect(slowBytes / total(slow.sent)).toBeLessThan(0.2);
      expect(slow.readBy[far] + slow.readBy[thin]).toBeLessThan(2 * MiB);
      // The thin one was used at first (nothing said it was slow) and then left.
      expect(slow.switches.map(([from]) => from)).toContain(1);
      expect(slow.readOf(2)).toBeGreaterThan(3 * MiB); // the fast primary stays in use

      // All equal: the primary shares serve (almost) everything, as before.
      for (const p of proxies.splice(0)) await p.close();
      const equal = await downloadVia(new Map());
      const primaries = [0, 1, 2].map(holderOf);
      const fromPrimaries = total(primaries.map((i) => equal.sent[i]));
      expect(fromPrimaries / total(equal.sent)).toBeGreaterThan(0.9);
      expect(equal.readOf(0) + equal.readOf(1) + equal.readOf(2)).toBeGreaterThan(0.9 * total(equal.readBy));
    },
    TIMEOUT,
  );
});
