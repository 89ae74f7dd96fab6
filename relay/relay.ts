/**
 * The relay: introducer and forwarder in one small process.
 *   /v1/link            WebSocket from a storage server: its signed announcements, and the
 *                       channels of clients reaching it through the relay
 *   /v1/subscribe       WebSocket to a client: the server list now and after every change
 *   /v1/servers         HTTP GET: the server list once (CBOR)
 *   /v1/connect/:id     WebSocket from a client to server :id, piped over that server's link
 *   everything else     the web app (when a bundle folder is given)
 * It moves frames without reading them: it sees storage indexes and ciphertext, never caps.
 */
import type { AddressInfo } from 'node:net';
import { serve, upgradeWebSocket } from '@hono/node-server';
import { Hono } from 'hono';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeCbor, encodeCbor, Fields } from '../core/protocol/cbor.ts';
import { ProtocolError } from '../core/protocol/errors.ts';
import { encodeError } from '../core/protocol/frames.ts';
import { encodeServerList } from '../core/protocol/grid.ts';
import * as L from '../core/protocol/limits.ts';
import { listenError } from '../core/protocol/listen-error.ts';
import { keepAlive } from '../core/protocol/keepalive.ts';
import { decodeEnvelope, EnvelopeKind, encodeEnvelope } from '../core/protocol/relay-envelope.ts';
import { Registry } from './registry.ts';
import { staticApp } from './static.ts';

export interface RelayOptions {
  port: number;
  host?: string;
  /** Serve the web app from this folder (vite's outDir) on the same port. */
  webRoot?: string;
  /** Extra origins the web app may connect to, beyond the relay and local servers. */
  connectSrc?: string[];
  now?: () => number;
  log?: (line: string) => void;
}

export interface Relay {
  /** http://HOST:PORT — what clients take as the grid URL. */
  readonly url: string;
  readonly port: number;
  readonly registry: Registry<ServerLink>;
  close(): Promise<void>;
}

/** Messages queued to a peer beyond this mean it is not reading: disconnect it. */
const MAX_BUFFERED = 64 * 1024 * 1024;

/** A storage server's link and the client channels riding on it. */
export class ServerLink {
  private nextChannel = 1;
  readonly channels = new Map<number, WebSocket>();
  constructor(readonly ws: WebSocket) {}

  send(kind: EnvelopeKind, channel: number, payload?: Uint8Array): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.ws.bufferedAmount > 4 * MAX_BUFFERED) {
      this.ws.terminate();
      return false;
    }
    this.ws.send(encodeEnvelope(kind, channel, payload));
    return true;
  }

  openChannel(client: WebSocket): number {
    const ch = this.nextChannel;
    this.nextChannel = this.nextChannel >= 0xffffffff ? 1 : this.nextChannel + 1;
    this.channels.set(ch, client);
    this.send(EnvelopeKind.Open, ch);
    return ch;
  }
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const log = opts.log ?? (() => {});
  const now = opts.now ?? Date.now;
  const registry = new Registry<ServerLink>(now);
  const subscribers = new Set<WebSocket>();
  let listBytes = encodeServerList([]);
  let pushTimer: ReturnType<typeof setTimeout> | undefined;
  registry.onChange(() => {
    listBytes = encodeServerList(registry.list().map((e) => e.signed));
    // Coalesce bursts (a grid starting) into one push.
    if (!pushTimer) {
      pushTimer = setTimeout(() => {
        pushTimer = undefined;
        for (const s of subscribers) if (s.readyState === WebSocket.OPEN) s.send(listBytes);
      }, 20);
    }
  });
  const sweeper = setInterval(() => registry.expire(), 30_000);
  sweeper.unref();

  const app = new Hono();
  app.get('/v1/servers', (c) => {
    return c.body(listBytes.slice().buffer, 200, {
      'Content-Type': 'application/cbor',
      'Cache-Control': 'no-store',
    });
  });

  app.get(
    '/v1/subscribe',
    upgradeWebSocket(() => ({
      onOpen(_ev, ws) {
        const raw = ws.raw as WebSocket;
        subscribers.add(raw);
        keepAlive(raw);
        raw.send(listBytes);
      },
      onClose(_ev, ws) {
        subscribers.delete(ws.raw as WebSocket);
      },
    })),
  );

  app.get(
    '/v1/link',
    upgradeWebSocket(() => {
      let link: ServerLink | null = null;
      return {
        // Messages come from the ws socket directly: hono's onMessage would copy each.
        onOpen(_ev, ws) {
          const l = new ServerLink(ws.raw as WebSocket);
          link = l;
          keepAlive(l.ws);
          l.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
            if (isBinary) onLinkMessage(l, toBytes(data));
          });
        },
        onClose() {
          if (!link) return;
          for (const client of link.channels.values()) client.close(1011, 'the server went away');
          link.channels.clear();
          registry.dropLink(link);
        },
      };
    }),
  );

  function onLinkMessage(link: ServerLink, msg: Uint8Array): void {
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(msg);
    } catch {
      link.ws.close(1002, 'malformed relay envelope');
      return;
    }
    if (env.kind === EnvelopeKind.Data) {
      const client = link.channels.get(env.channel);
      if (!client || client.readyState !== WebSocket.OPEN) return;
      if (client.bufferedAmount > MAX_BUFFERED) {
        client.close(1008, 'not reading replies');
        return;
      }
      client.send(env.payload);
    } else if (env.kind === EnvelopeKind.Close) {
      link.channels.get(env.channel)?.close(1000, 'closed by the server');
      link.channels.delete(env.channel);
    } else if (env.kind === EnvelopeKind.Control) {
      onControl(link, env.payload);
    }
  }

  function onControl(link: ServerLink, payload: Uint8Array): void {
    const reply = (v: unknown) => link.send(EnvelopeKind.Control, 0, encodeCbor(v));
    try {
      const f = new Fields(decodeCbor(payload, L.MAX_ANNOUNCEMENT_BYTES + 256), 'control');
      if (f.string('t', 32) !== 'announce') throw new ProtocolError('BAD_REQUEST', 'unknown control message');
      const signed = { body: f.bytes('body', 1, L.MAX_ANNOUNCEMENT_BYTES), signature: f.bytes('sig', 64) };
      const known = registry.list().find((e) => e.link === link);
      const { announcement, replaced } = registry.announce(signed, link);
      if (known && known.announcement.serverId !== announcement.serverId) {
        registry.dropLink(link);
        throw new ProtocolError('BAD_ANNOUNCEMENT', 'one link carries one server');
      }
      if (replaced) replaced.ws.close(1000, 'replaced by a newer connection of the same server');
      if (!known) {
        log(
          `server ${announcement.serverId.slice(0, 12)}… (${announcement.nickname || 'no nickname'}) joined`,
        );
      }
      reply({ t: 'accepted', seq: announcement.seq });
    } catch (err) {
      const m = err instanceof ProtocolError ? err.message : 'unreadable control message';
      log(`rejected an announcement: ${m}`);
      reply({ t: 'rejected', m });
    }
  }

  app.get(
    '/v1/connect/:serverId',
    // Refuse before upgrading, so the client sees a failed connection, not an open-then-closed one.
    async (c, next) => {
      const entry = registry.get(c.req.param('serverId') ?? '');
      if (!entry || entry.link.ws.readyState !== WebSocket.OPEN) {
        return c.text('that server is not connected to this relay', 404);
      }
      await next();
    },
    upgradeWebSocket((c) => {
      const serverId = c.req.param('serverId') ?? '';
      let link: ServerLink | null = null;
      let channel = 0;
      return {
        onOpen(_ev, ws) {
          const raw = ws.raw as WebSocket;
          const entry = registry.get(serverId);
          if (!entry || entry.link.ws.readyState !== WebSocket.OPEN) {
            raw.close(4404, 'that server is not connected to this relay');
            return;
          }
          keepAlive(raw);
          const l = entry.link;
          const ch = l.openChannel(raw);
          link = l;
          channel = ch;
          raw.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
            if (!isBinary) return;
            const frame = toBytes(data);
            // The only thing the relay checks in a frame is its size (so one client cannot
            // break the server's link with a frame the link would refuse).
            if (frame.length > L.MAX_FRAME_BYTES) {
              raw.send(
                encodeError(0, 'TOO_LARGE', `frame of ${frame.length} bytes exceeds ${L.MAX_FRAME_BYTES}`),
              );
              return;
            }
            if (!l.send(EnvelopeKind.Data, ch, frame)) raw.close(1011, 'the server went away');
          });
        },
        onClose() {
          if (!link) return;
          link.channels.delete(channel);
          link.send(EnvelopeKind.Close, channel);
        },
      };
    }),
  );

  if (opts.webRoot) {
    app.route(
      '/',
      staticApp({
        root: opts.webRoot,
        // The page may reach the relay, local servers, and every server the relay lists.
        connectSrc: () => [
          'ws://127.0.0.1:*',
          'ws://localhost:*',
          ...(opts.connectSrc ?? []),
          ...serverOrigins(registry.list().map((e) => e.announcement.url)),
        ],
      }),
    );
  }

  const host = opts.host ?? '127.0.0.1';
  const wss = new WebSocketServer({ noServer: true, maxPayload: L.WS_MAX_PAYLOAD + L.RELAY_ENVELOPE_BYTES });
  const http = serve({ fetch: app.fetch, hostname: host, port: opts.port, websocket: { server: wss } });
  await new Promise<void>((resolve, reject) => {
    if (http.listening) resolve();
    http.once('listening', () => resolve());
    http.once('error', (err) => reject(listenError(err, opts.port)));
  });
  const port = (http.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`relay listening at ${url}`);
  return {
    url,
    port,
    registry,
    async close() {
      clearInterval(sweeper);
      clearTimeout(pushTimer);
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/** `ws://host:port` of each announced URL, parsed (so nothing but an origin reaches the CSP header). */
export function serverOrigins(urls: Array<string | null>): string[] {
  const out = new Set<string>();
  for (const url of urls) {
    if (!url) continue;
    try {
      const u = new URL(url);
      if ((u.protocol === 'ws:' || u.protocol === 'wss:') && /^[a-z0-9.:[\]-]+$/i.test(u.host)) {
        out.add(`${u.protocol}//${u.host}`);
      }
    } catch {
      // Not a URL: nothing to allow.
    }
  }
  return [...out];
}

function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const b = Array.isArray(data) ? Buffer.concat(data) : data;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
