/**
 * Hostile frames against a real server over a raw WebSocket: each gets an error reply,
 * the connection (or at worst that one connection) survives, the server keeps serving.
 */
import { encode } from 'cborg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectStorageServer } from '../../core/protocol/client.ts';
import { decodeReply, encodeRequest, type Reply } from '../../core/protocol/frames.ts';
import * as L from '../../core/protocol/limits.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import { cleanup, startTestServer } from '../harness/grid.ts';

let node: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  node = await startTestServer();
});
afterAll(async () => {
  await node?.close();
  cleanup();
});

/** A raw socket that collects replies in order. */
async function rawSocket(): Promise<{ ws: WebSocket; next(): Promise<Reply>; closed: Promise<number> }> {
  const ws = new WebSocket(node.url!);
  const queue: Reply[] = [];
  const waiters: Array<(r: Reply) => void> = [];
  ws.on('message', (d: Buffer) => {
    const r = decodeReply(new Uint8Array(d));
    const w = waiters.shift();
    if (w) w(r);
    else queue.push(r);
  });
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise((r) => ws.once('open', r));
  return {
    ws,
    closed,
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
  };
}

const si = asStorageIndex(new Uint8Array(16).fill(3));

describe('hostile frames', () => {
  it('each get an error reply and the connection keeps working', async () => {
    const s = await rawSocket();
    const bad: Array<[Uint8Array | string, number, RegExp]> = [
      [new Uint8Array([0xff, 0xfe]), 0, /CBOR|frame/],
      [encode({ i: 5, o: 'explode', a: {} }), 5, /unknown operation/],
      [encode({ i: 6, o: 'read', a: { si: new Uint8Array(3), sh: 0, offset: 0, length: 1 } }), 6, /16 bytes/],
      [
        encodeRequest(7, 'read', { si, sh: asShareNum(0), offset: 0, length: 10 }).subarray(0, 20),
        0,
        /frame/,
      ],
      [new Uint8Array(L.MAX_FRAME_BYTES + 10), 0, /exceeds the limit/],
      [new Uint8Array(50_000).fill(0x81), 0, /nested/],
      ['a text frame', 0, /binary/],
    ];
    for (const [frame, id, message] of bad) {
      s.ws.send(frame);
      const r = await s.next();
      expect(r.ok).toBe(false);
      expect(r.id).toBe(id);
      expect(r.ok === false && r.message).toMatch(message);
    }
    // Still usable: a good request on the same socket.
    s.ws.send(encodeRequest(8, 'list', { si }));
    expect(await s.next()).toEqual({ id: 8, ok: true, result: [] });
    s.ws.close();
  });

  it('a frame beyond the WebSocket cap closes that connection only', async () => {
    const s = await rawSocket();
    s.ws.send(new Uint8Array(L.WS_MAX_PAYLOAD + 1));
    expect(await s.closed).toBe(1009);
    const conn = await connectStorageServer(node.url!, node.serverId);
    expect(await conn.listShares(si)).toEqual([]);
    conn.close();
  });

  it('many requests in flight on one connection all get their own answers', async () => {
    const conn = await connectStorageServer(node.url!, node.serverId);
    const results = await Promise.all(Array.from({ length: 500 }, () => conn.listShares(si)));
    expect(results.every((r) => r.length === 0)).toBe(true);
    conn.close();
  });
});
