/**
 * What the relay sends and holds (issue "Hardening", point 3), with real relays on
 * 127.0.0.1: the server list under churn (coalesced pushes, always-current GET, no rebuild
 * per announcement), subscribers that stop reading, and relayed channels whose client or
 * server stops reading. Peers stop reading by pausing their sockets; the kernel's own
 * buffers (a few MB on loopback) come first, so bounds are asserted with that room.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeCbor } from '../../core/protocol/cbor.ts';
import { startRelay } from '../../relay/relay.ts';
import { cleanup } from '../harness/grid.ts';
import {
  type FastKey,
  ListWatcher,
  linkedServer,
  type RawLink,
  relayedClient,
  until,
  within,
} from '../harness/relay-peers.ts';

afterAll(() => cleanup());

const MiB = 1024 * 1024;
/** Lots of room: churn and floods are the tests' own doing here. */
const OPEN_RATES = {
  perLink: { burst: 100_000, perSecond: 100_000 },
  newcomers: { burst: 100_000, perSecond: 100_000 },
};

/** The list `GET /v1/servers` returns, as serverId → seq (plain CBOR, no signature checks). */
async function servedSeqs(relayUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${relayUrl}/v1/servers`);
  const msg = decodeCbor(new Uint8Array(await res.arrayBuffer()), 64 * MiB) as {
    servers: { body: Uint8Array }[];
  };
  const out = new Map<string, number>();
  for (const s of msg.servers) {
    const body = decodeCbor(s.body, 4096) as { serverId: string; seq: number };
    out.set(body.serverId, body.seq);
  }
  return out;
}

async function linkServers(relayUrl: string, n: number, fields = {}) {
  const out: Array<{ link: RawLink; key: FastKey }> = [];
  for (let i = 0; i < n; i += 20) {
    const batch = Math.min(20, n - i);
    out.push(...(await Promise.all(Array.from({ length: batch }, () => linkedServer(relayUrl, fields)))));
  }
  return out;
}

/** Resolves once the relay has read everything `ws` sent before (a ping is answered in order). */
function roundTrip(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once('pong', () => resolve());
    ws.ping();
  });
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

describe('the served list', () => {
  it('under churn: pushes at most one per interval ending at the latest state, GET always current, no rebuild per announcement', async () => {
    const pushIntervalMs = 500;
    const relay = await startRelay({ port: 0, limits: { ...OPEN_RATES, pushIntervalMs } });
    const servers = await linkServers(relay.url, 40);
    const watcher = new ListWatcher(relay.url);
    await until(() => watcher.latest.length === 40, 10_000, 'the first full list');
    const before = watcher.lists.length;
    const last = new Map<string, number>();
    let seq = Date.now();
    let gets = 0;
    const rounds = 15;
    const t0 = Date.now();
    for (let round = 0; round < rounds; round++) {
      // Every server renews (pipelined), then the list is read: it already holds every renewal.
      const answers = servers.map(({ link, key }) => {
        seq++;
        last.set(key.serverId, seq);
        return link.announce(key.announce({ seq }));
      });
      for (const a of await Promise.all(answers)) expect(a.t).toBe('accepted');
      expect(await servedSeqs(relay.url)).toEqual(last);
      gets++;
    }
    const elapsed = Date.now() - t0;
    const pushes = watcher.lists.length - before;
    // 600 announcements; at most one push per interval (plus the one in flight when churn stops).
    expect(pushes).toBeLessThanOrEqual(Math.ceil(elapsed / pushIntervalMs) + 1);
    // The last push carries the latest state.
    await until(
      () => watcher.latest.length === 40 && watcher.latest.every((a) => a.seq === last.get(a.serverId)),
      5_000,
      'a push of the latest state',
    );
    // The list was joined once per read after a change (GETs and push rounds), not per announcement.
    const { listBuilds } = relay.stats();
    expect(listBuilds).toBeLessThanOrEqual(gets + relay.stats().pushes + 2);
    watcher.close();
    for (const s of servers) s.link.close();
    await relay.close();
  });
});

describe('subscribers that stop reading', () => {
  it('are dropped with a reason, having been sent at most one list beyond what the sockets hold', async () => {
    const relay = await startRelay({
      port: 0,
      limits: { ...OPEN_RATES, pushIntervalMs: 50, subscriberStallMs: 300, dropGraceMs: 30_000 },
    });
    // Big entries make a big list (~230 KB), so the kernel's buffers fill in a few pushes.
    const servers = await linkServers(relay.url, 300, {
      nickname: 'n'.repeat(64),
      url: `ws://${'h'.repeat(480)}:1/v1/storage`,
    });
    const listBytes = (await (await fetch(`${relay.url}/v1/servers`)).arrayBuffer()).byteLength;
    const reader = new ListWatcher(relay.url);
    const sleeper = new ListWatcher(relay.url);
    await until(() => reader.latest.length === 300 && sleeper.latest.length === 300, 10_000, 'first lists');
    sleeper.ws.pause();
    const receivedBefore = sleeper.bytesReceived;
    // Churn until the reader has had 60 pushes (~14 MB of lists offered to each subscriber).
    const target = reader.lists.length + 60;
    let i = 0;
    while (reader.lists.length < target) {
      const s = servers[i++ % servers.length];
      expect((await s.link.announce(s.key.announce())).t).toBe('accepted');
      await new Promise((r) => setTimeout(r, 5));
    }
    sleeper.ws.resume();
    const closed = await within(closeOf(sleeper.ws), 10_000, 'the relay closing the sleeper');
    expect(closed).toEqual({ code: 1008, reason: 'not reading the server list' });
    // Sent while asleep: what loopback's buffers took (~4 MB here) plus one list waiting at the relay.
    expect(sleeper.bytesReceived - receivedBefore).toBeLessThan(8 * MiB + listBytes);
    expect(reader.closeEvent).toBeNull();
    expect(relay.stats().subscribers).toBe(1);
    reader.close();
    for (const s of servers) s.link.close();
    await relay.close();
  });
});

describe('relayed channels', () => {
  it('a client that stops reading replies is dropped; so is the one holding most when a server’s clients together hold too much', async () => {
    const relay = await startRelay({
      port: 0,
      limits: { maxChannelBuffered: 8 * MiB, maxLinkRepliesBuffered: 12 * MiB, dropGraceMs: 30_000 },
    });
    const { link, key } = await linkedServer(relay.url);
    const reply = new Uint8Array(MiB);

    const c1 = await relayedClient(relay.url, key.serverId);
    await until(() => link.opened.length === 1);
    const ch1 = link.opened[0];
    c1.pause();
    let sent = 0;
    while (!link.closedChannels.has(ch1) && sent < 40) {
      link.sendData(ch1, reply);
      sent++;
      await roundTrip(link.ws);
    }
    expect(link.closedChannels.has(ch1)).toBe(true);
    // 8 MiB held by the relay, the rest by loopback's buffers.
    expect(sent).toBeLessThan(20);
    const c1Closed = within(closeOf(c1), 10_000, 'the relay closing c1');
    c1.resume();
    expect(await c1Closed).toEqual({ code: 1008, reason: 'not reading replies' });

    // Two clients, each under 8 MiB unread, together over 12 MiB: the one holding more goes.
    const c2 = await relayedClient(relay.url, key.serverId);
    const c3 = await relayedClient(relay.url, key.serverId);
    await until(() => link.opened.length === 3);
    const [ch2, ch3] = link.opened.slice(1);
    c2.pause();
    c3.pause();
    const got = new Map<WebSocket, number>([
      [c2, 0],
      [c3, 0],
    ]);
    for (const c of [c2, c3]) c.on('message', () => got.set(c, (got.get(c) ?? 0) + 1));
    const sentTo = new Map<number, number>([
      [ch2, 0],
      [ch3, 0],
    ]);
    for (
      let round = 0;
      round < 20 && !link.closedChannels.has(ch2) && !link.closedChannels.has(ch3);
      round++
    ) {
      for (const ch of [ch2, ch3]) {
        link.sendData(ch, reply);
        sentTo.set(ch, (sentTo.get(ch) ?? 0) + 1);
      }
      await roundTrip(link.ws);
    }
    const droppedCh = link.closedChannels.has(ch2) ? ch2 : ch3;
    expect(link.closedChannels.has(droppedCh)).toBe(true);
    const [dropped, kept] = droppedCh === ch2 ? [c2, c3] : [c3, c2];
    const keptCh = droppedCh === ch2 ? ch3 : ch2;
    expect(link.closedChannels.has(keptCh)).toBe(false);
    const droppedClosed = within(closeOf(dropped), 10_000, 'the relay closing a client');
    dropped.resume();
    kept.resume();
    expect(await droppedClosed).toEqual({
      code: 1008,
      reason: 'the relay holds too many unread replies for this server; yours were most',
    });
    // The other one loses nothing.
    await until(
      () => got.get(kept) === sentTo.get(keptCh),
      10_000,
      'the kept client reading all its replies',
    );
    expect(kept.readyState).toBe(WebSocket.OPEN);
    kept.close();
    link.close();
    await relay.close();
  });

  it('a client sending faster than the server’s link drains is held back, not cut off, and nothing is lost', async () => {
    const highWater = 4 * MiB;
    const relay = await startRelay({ port: 0, limits: { linkHighWater: highWater, linkLowWater: MiB } });
    const { link, key } = await linkedServer(relay.url);
    const client = await relayedClient(relay.url, key.serverId);
    await until(() => link.opened.length === 1);
    const ch = link.opened[0];
    const relaySide = relay.registry.get(key.serverId)!.link.ws;
    link.ws.pause(); // the server stops reading its link
    const n = 40;
    for (let i = 0; i < n; i++) {
      const frame = new Uint8Array(MiB);
      new DataView(frame.buffer).setUint32(0, i);
      client.send(frame);
    }
    // Watch the relay's buffer for the link until the client's sending stalls (or it has sent everything).
    let most = 0;
    let lastClient = -1;
    let still = 0;
    await until(
      () => {
        most = Math.max(most, relaySide.bufferedAmount);
        still = client.bufferedAmount === lastClient ? still + 1 : 0;
        lastClient = client.bufferedAmount;
        return lastClient === 0 || still >= 20;
      },
      20_000,
      'the client to stall or finish',
    );
    expect(most).toBeLessThanOrEqual(highWater + 3 * MiB);
    expect(client.bufferedAmount).toBeGreaterThan(0);
    // The server reads again: every frame arrives, in order, and the client is still connected.
    link.ws.resume();
    await until(() => (link.data.get(ch)?.length ?? 0) === n, 20_000, 'every frame at the server');
    const order = link.data.get(ch)!.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(0));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(client.readyState).toBe(WebSocket.OPEN);
    expect(link.closeEvent).toBeNull();
    client.close();
    link.close();
    await relay.close();
  });
});
