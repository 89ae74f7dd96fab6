/**
 * Keep-alive on real sockets: a peer that stops answering pings is dropped, a live one is
 * kept. keepAlive's interval runs on a fake clock (only setInterval is faked; sockets and
 * everything else are real), and a period is advanced only once the previous ping has
 * arrived and the live peer's pong is back, so however slow the machine, a live peer cannot
 * look dead and a broken keep-alive cannot look right.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { keepAlive } from '../../core/protocol/keepalive.ts';
import { waitFor } from '../harness/wait.ts';

const PERIOD = 30_000; // keepAlive's default; nobody waits for it on the fake clock

interface Link {
  /** The side keepAlive runs on. */
  server: WebSocket;
  /** The peer; with autoPong false it receives pings and never answers them. */
  client: WebSocket;
  wss: WebSocketServer;
  /** Counted where keepAlive calls them, so they can be checked right after the clock moves. */
  pingsSent: number;
  terminations: number;
  /** Counted where they arrive. */
  pingsReceived: number;
  pongsReceived: number;
  closeCode: number | undefined;
}

const links: Link[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const l of links.splice(0)) {
    l.client.terminate();
    l.server.terminate();
    await new Promise((r) => l.wss.close(r));
  }
});

async function link(autoPong: boolean): Promise<Link> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { autoPong });
  await once(client, 'open');
  const [server] = await accepted;
  const l: Link = {
    server,
    client,
    wss,
    pingsSent: 0,
    terminations: 0,
    pingsReceived: 0,
    pongsReceived: 0,
    closeCode: undefined,
  };
  const ping = server.ping.bind(server);
  server.ping = (...args) => {
    l.pingsSent++;
    ping(...args);
  };
  const terminate = server.terminate.bind(server);
  server.terminate = () => {
    l.terminations++;
    terminate();
  };
  client.on('ping', () => l.pingsReceived++);
  server.on('pong', () => l.pongsReceived++);
  server.on('close', (code) => {
    l.closeCode = code;
  });
  links.push(l);
  return l;
}

describe('keepAlive', () => {
  it('terminates a peer that misses a pong and keeps one that answers, period after period', async () => {
    const dead = await link(false);
    const live = await link(true);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    keepAlive(dead.server, PERIOD);
    keepAlive(live.server, PERIOD);
    const state = () =>
      `dead: sent ${dead.pingsSent}, received ${dead.pingsReceived}, terminated ${dead.terminations}; ` +
      `live: sent ${live.pingsSent}, pongs ${live.pongsReceived}, terminated ${live.terminations}`;

    // No ping before the first period ends; then one to each.
    vi.advanceTimersByTime(PERIOD - 1);
    expect([dead.pingsSent, live.pingsSent]).toEqual([0, 0]);
    vi.advanceTimersByTime(1);
    expect([dead.pingsSent, live.pingsSent]).toEqual([1, 1]);
    await waitFor(() => dead.pingsReceived === 1 && live.pongsReceived === 1, {
      what: 'the first pings to arrive and the live peer to answer',
      detail: state,
    });

    // Period 2: the dead peer's ping went unanswered, so it is cut off (and not pinged
    // again); the live one answered, so it is pinged again. Then three more periods.
    vi.advanceTimersByTime(PERIOD);
    expect([dead.terminations, dead.pingsSent], state()).toEqual([1, 1]);
    for (let period = 2; period <= 5; period++) {
      if (period > 2) vi.advanceTimersByTime(PERIOD);
      expect([live.terminations, live.pingsSent], `period ${period}: ${state()}`).toEqual([0, period]);
      await waitFor(() => live.pongsReceived === period, {
        what: `the live peer's pong in period ${period}`,
        detail: state,
      });
    }
    await waitFor(() => dead.closeCode !== undefined, { what: 'the dead link to close', detail: state });
    expect(dead.closeCode).toBe(1006); // cut off, no closing handshake
    expect(live.server.readyState).toBe(WebSocket.OPEN);
    expect(live.closeCode).toBeUndefined();

    // Once closed, a link's timer is gone: no ping or termination ever again.
    live.client.close();
    await waitFor(() => live.closeCode !== undefined, { what: 'the live link to close', detail: state });
    vi.advanceTimersByTime(10 * PERIOD);
    expect([dead.pingsSent, dead.terminations, live.pingsSent, live.terminations]).toEqual([1, 1, 5, 0]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
