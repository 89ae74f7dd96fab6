/**
 * The relay on 127.0.0.1: signed announcements (forgeries refused), subscriptions that
 * follow servers joining and leaving, and relay-only servers reached through it with the
 * handshake still proving who answers.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { relayEndpoint, relayRoute, signAnnouncement } from '../../core/protocol/announcement.ts';
import { decodeCbor, encodeCbor } from '../../core/protocol/cbor.ts';
import { connectStorageServer } from '../../core/protocol/client.ts';
import {
  fetchGridServers,
  type GridServer,
  serverRoutes,
  subscribeToGrid,
} from '../../core/protocol/grid.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';
import * as L from '../../core/protocol/limits.ts';
import { decodeEnvelope, EnvelopeKind, encodeEnvelope } from '../../core/protocol/relay-envelope.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import { serverOrigins, startRelay } from '../../relay/relay.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, startTestGrid, startTestRelay, startTestServer, tempDir } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
afterAll(() => cleanup());

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A server link opened by hand: send announcements, read the relay's answers. */
async function rawLink(relayUrl: string) {
  const ws = new WebSocket(relayEndpoint(relayUrl, '/v1/link'));
  await new Promise((r) => ws.once('open', r));
  return {
    announce(body: Uint8Array, sig: Uint8Array): Promise<Record<string, unknown>> {
      const answer = new Promise<Record<string, unknown>>((resolve) =>
        ws.once('message', (d: Buffer) => {
          const env = decodeEnvelope(new Uint8Array(d));
          resolve(decodeCbor(env.payload, 10_000) as Record<string, unknown>);
        }),
      );
      ws.send(encodeEnvelope(EnvelopeKind.Control, 0, encodeCbor({ t: 'announce', body, sig })));
      return answer;
    },
    close: () => ws.close(),
  };
}

/** Opens a link, sends one announcement, closes; resolves with the relay's answer. */
async function announceRaw(
  relayUrl: string,
  body: Uint8Array,
  sig: Uint8Array,
): Promise<Record<string, unknown>> {
  const link = await rawLink(relayUrl);
  const a = await link.announce(body, sig);
  link.close();
  return a;
}

describe('announcements', () => {
  it('are verified: forged, tampered and stale ones are refused', async () => {
    const relay = await startTestRelay();
    const key = generateKeyPair();
    const ann = {
      serverId: key.serverId,
      nickname: 'x',
      url: null,
      availableSpace: 1,
      seq: 5,
      expires: Date.now() + 60_000,
    };
    const good = signAnnouncement(key, ann);
    const other = generateKeyPair();
    const forged = signAnnouncement(other, { ...ann, serverId: other.serverId });
    expect(await announceRaw(relay.url, good.body, forged.signature)).toMatchObject({
      t: 'rejected',
      m: expect.stringMatching(/bad signature/),
    });
    const tampered = good.body.slice();
    tampered[tampered.length - 1] ^= 1;
    expect((await announceRaw(relay.url, tampered, good.signature)).t).toBe('rejected');
    const expired = signAnnouncement(key, { ...ann, expires: Date.now() - 2 * 24 * 3600_000 });
    expect((await announceRaw(relay.url, expired.body, expired.signature)).m).toMatch(/expired/);
    expect(relay.registry.list()).toEqual([]);
    // While a server is linked, a replay of its announcement (or an older one) is refused.
    const link = await rawLink(relay.url);
    expect(await link.announce(good.body, good.signature)).toMatchObject({ t: 'accepted' });
    expect((await announceRaw(relay.url, good.body, good.signature)).m).toMatch(/older/);
    expect(relay.registry.list().length).toBe(1);
    link.close();
    // A server whose clock runs half a minute behind is listed; an hour behind, it is told why not.
    const slow = generateKeyPair();
    const late = signAnnouncement(slow, { ...ann, serverId: slow.serverId, expires: Date.now() - 30_000 });
    expect((await announceRaw(relay.url, late.body, late.signature)).t).toBe('accepted');
    const stale = generateKeyPair();
    const hour = signAnnouncement(stale, {
      ...ann,
      serverId: stale.serverId,
      expires: Date.now() - 3600_000,
    });
    expect((await announceRaw(relay.url, hour.body, hour.signature)).m).toMatch(/expired .* clock right/);
    await relay.close();
  });
});

describe('subscriptions', () => {
  it('deliver the list, then joins and departures', async () => {
    const relay = await startTestRelay();
    let latest: GridServer[] = [];
    const sub = subscribeToGrid(relay.url, (list) => {
      latest = list;
    });
    expect(await sub.ready).toEqual([]);
    const a = await startTestServer({ relayUrl: relay.url, nickname: 'a' });
    await until(() => latest.length === 1);
    const b = await startTestServer({ relayUrl: relay.url, nickname: 'b', listen: false });
    await until(() => latest.length === 2);
    const byId = new Map(latest.map((s) => [s.serverId, s]));
    expect(byId.get(a.serverId)?.url).toBe(a.url);
    expect(byId.get(b.serverId)?.url).toBeNull();
    expect(byId.get(b.serverId)?.nickname).toBe('b');
    expect((await fetchGridServers(relay.url)).length).toBe(2);
    await a.close();
    await until(() => latest.length === 1 && latest[0].serverId === b.serverId);
    sub.close();
    await b.close();
    await relay.close();
  });

  it('servers come back on their own when the relay restarts', async () => {
    const relay = await startTestRelay();
    const s = await startTestServer({ relayUrl: relay.url, listen: false });
    const port = relay.port;
    await relay.close();
    await until(() => !s.relayLink!.announced);
    const again = await startRelay({ port });
    await s.relayLink!.whenAnnounced();
    expect(again.registry.list().map((e) => e.announcement.serverId)).toEqual([s.serverId]);
    await s.close();
    await again.close();
  });
});

describe('web app', () => {
  it('is served with a CSP that lets the page reach the relay and the servers it lists, nothing else', async () => {
    const web = tempDir('cairn-web-');
    writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>x</title>');
    const relay = await startTestRelay({ webRoot: web });
    const s = await startTestServer({
      relayUrl: relay.url,
      publicUrl: 'wss://storage.example:8443/v1/storage',
    });
    const res = await fetch(`${relay.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const connect = /connect-src ([^;]*)/
      .exec(res.headers.get('content-security-policy') ?? '')?.[1]
      .split(' ');
    // The server's WebSocket origin, and its HTTP one (its list, GET /v1/servers, for a page whose relay is down).
    expect(connect).toEqual([
      "'self'",
      'ws://127.0.0.1:*',
      'ws://localhost:*',
      'wss://storage.example:8443',
      'https://storage.example:8443',
    ]);
    expect(
      serverOrigins([
        'ws://a.example:1/x?y#z',
        'ws://a.example:1/other',
        'http://b.example',
        'ws://bad host;x',
        null,
      ]),
    ).toEqual(['ws://a.example:1']);
    await s.close();
    await relay.close();
  });
});

describe('forwarding', () => {
  it('reaches a relay-only server, byte-exact, and the relay cannot pose as another server', async () => {
    const grid = await startTestGrid({ servers: 2, relayOnly: 1 });
    const [direct, hidden] = grid.servers;
    expect(hidden.url).toBeNull();
    const routes = serverRoutes(hidden, grid.relay.url);
    expect(routes).toEqual([relayRoute(grid.relay.url, hidden.serverId)]);
    const conn = await connectStorageServer(routes[0], hidden.serverId);
    const si = asStorageIndex(rand(16));
    const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
    const data = rand(2_500_000);
    await conn.allocateBuckets(si, s, [asShareNum(4)], data.length);
    await conn.writeShare(si, asShareNum(4), s.upload, 0, data);
    await conn.closeShare(si, asShareNum(4), s.upload);
    expectBytesEqual(await conn.readShare(si, asShareNum(4), 0, data.length), data);
    expect(await hidden.server.listImmutable(si)).toEqual([4]);
    // Large reads in flight on two channels at once: each reply is wrapped in its channel's
    // envelope where it lies (no copy), and each must reach its own client with its own bytes.
    const conn2 = await connectStorageServer(routes[0], hidden.serverId);
    const chunk = 200 * 1024;
    const at = (i: number) => (i * 37 * 1024) % (data.length - chunk);
    for (let round = 0; round < 2; round++) {
      const reads = await Promise.all(
        Array.from({ length: 48 }, (_, i) =>
          (i % 2 ? conn2 : conn).readShare(si, asShareNum(4), at(i + round), chunk),
        ),
      );
      for (const [i, r] of reads.entries()) {
        expectBytesEqual(r, data.subarray(at(i + round), at(i + round) + chunk));
      }
    }
    conn2.close();

    // The route to `hidden` does not prove to be `direct`.
    await expect(connectStorageServer(routes[0], direct.serverId)).rejects.toMatchObject({
      code: 'HANDSHAKE_FAILED',
    });
    // Unknown server: the relay closes the socket.
    await expect(
      connectStorageServer(relayRoute(grid.relay.url, generateKeyPair().serverId), direct.serverId),
    ).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
    });
    // An oversized frame is answered by the relay and does not break the server's link.
    const raw = new WebSocket(routes[0]);
    await new Promise((r) => raw.once('open', r));
    const reply = new Promise<Uint8Array>((r) => raw.once('message', (d: Buffer) => r(new Uint8Array(d))));
    raw.send(new Uint8Array(L.MAX_FRAME_BYTES + 1));
    expect(decodeCbor(await reply, 1000)).toMatchObject({ i: 0, e: { c: 'TOO_LARGE' } });
    // A text message gets the typed answer a server gives one, not silence (found by bench/fuzz.ts).
    const textReply = new Promise<Uint8Array>((r) =>
      raw.once('message', (d: Buffer) => r(new Uint8Array(d))),
    );
    raw.send('{"i":1,"o":"version","a":{}}');
    expect(decodeCbor(await textReply, 1000)).toMatchObject({ i: 0, e: { c: 'BAD_REQUEST' } });
    raw.close();
    expect(await conn.listShares(si)).toEqual([4]);

    // When the server goes away, the client's pending and later calls fail as UNAVAILABLE.
    await hidden.close();
    await conn.closed;
    await expect(conn.listShares(si)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await grid.close();
  });
});
