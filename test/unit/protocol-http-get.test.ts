/** `#http-get` in Node (core/protocol/http-get-node.ts) against a real HTTP server on 127.0.0.1. */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGetBytes, MAX_GET_BYTES } from '../../core/protocol/http-get-node.ts';
import { toHex } from '../../core/primitives/bytes.ts';

const body = new Uint8Array(randomBytes(300_000));
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/bytes') res.end(body);
    else if (req.url === '/moved') res.writeHead(302, { Location: '/bytes' }).end();
    else if (req.url === '/loop') res.writeHead(307, { Location: '/loop' }).end();
    else if (req.url === '/huge') {
      // More than a list ever is, sent in pieces until the client hangs up.
      const piece = Buffer.alloc(1024 * 1024);
      let sent = 0;
      const more = () => {
        while (sent <= MAX_GET_BYTES && res.write(piece)) sent += piece.length;
        if (sent <= MAX_GET_BYTES) res.once('drain', more);
        else res.end();
      };
      res.on('error', () => {});
      more();
    } else if (req.url === '/slow') setTimeout(() => res.end('late'), 5_000).unref();
    else res.writeHead(404).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('httpGetBytes (Node)', () => {
  const never = () => new AbortController().signal;

  it('returns the status and the whole body, following redirects', async () => {
    const got = await httpGetBytes(`${base}/bytes`, never());
    expect(got.status).toBe(200);
    expect(toHex(got.body)).toBe(toHex(body));
    const moved = await httpGetBytes(`${base}/moved`, never());
    expect(toHex(moved.body)).toBe(toHex(body));
    expect((await httpGetBytes(`${base}/missing`, never())).status).toBe(404);
  });

  it('refuses an endless redirect, a body past the limit, a dead port and an aborted wait', async () => {
    await expect(httpGetBytes(`${base}/loop`, never())).rejects.toThrow(/redirects/);
    await expect(httpGetBytes(`${base}/huge`, never())).rejects.toThrow(/over \d+ bytes/);
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    await expect(httpGetBytes(`http://127.0.0.1:${port}/`, never())).rejects.toThrow(/ECONNREFUSED/);
    await expect(httpGetBytes(`${base}/slow`, AbortSignal.timeout(100))).rejects.toThrow(/abort/i);
  });
});
