/** Keep-alive on real sockets: a peer that stops answering pings is dropped, a live one is kept. */
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { keepAlive } from '../../core/protocol/keepalive.ts';

async function pair(
  autoPong: boolean,
): Promise<{ server: WebSocket; client: WebSocket; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const server = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { autoPong });
  await new Promise((r) => client.once('open', r));
  return { server: await server, client, wss };
}

describe('keepAlive', () => {
  it('terminates a peer that stops answering pings and keeps one that answers', async () => {
    const dead = await pair(false);
    const live = await pair(true);
    keepAlive(dead.server, 40);
    keepAlive(live.server, 40);
    const closed = new Promise<number>((r) => dead.server.once('close', (code) => r(code)));
    expect(await closed).toBe(1006);
    await new Promise((r) => setTimeout(r, 200));
    expect(live.server.readyState).toBe(WebSocket.OPEN);
    for (const p of [dead, live]) {
      p.client.terminate();
      p.wss.close();
    }
  });
});
