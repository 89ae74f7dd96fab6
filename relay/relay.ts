/**
 * The relay: introducer and forwarder in one small process.
 *   /v1/link            WebSocket from a storage server: its signed announcements, and the
 *                       channels of clients reaching it through the relay
 *   /v1/subscribe       WebSocket to a client: the server list now and after every change
 *   /v1/servers         HTTP GET: the server list once (CBOR)
 *   /v1/connect/:id     WebSocket from a client to server :id, piped over that server's link
 *   everything else     the web app (when a bundle folder is given)
 * It moves frames without reading them: it sees storage indexes and ciphertext, never caps.
 * Anyone can reach it, so what anyone can make it do is bounded (relay/limits.ts): who gets
 * listed (registry.ts), how often links announce (rate-limit.ts), how often and how much
 * the list is sent (subscribers.ts, server-list.ts), what relayed channels hold (server-link.ts).
 * This file only wires those to the sockets.
 */
import type { AddressInfo } from 'node:net';
import type WebSocket from 'ws';
import { WebSocketServer } from '../core/protocol/ws-package.ts';
import { decodeCbor, encodeCbor, Fields } from '../core/protocol/cbor.ts';
import { ProtocolError, type ProtocolErrorCode } from '../core/protocol/errors.ts';
import { encodeError } from '../core/protocol/frames.ts';
import * as L from '../core/protocol/limits.ts';
import { listenError } from '../core/protocol/listen-error.ts';
import { keepAlive } from '../core/protocol/keepalive.ts';
import { decodeEnvelope, EnvelopeKind } from '../core/protocol/relay-envelope.ts';
import type { ServerId } from '../core/types.ts';
import { type RelayLimits, relayLimits } from './limits.ts';
import { ThrottledLog } from './log-throttle.ts';
import { TokenBucket } from './rate-limit.ts';
import { Registry } from './registry.ts';
import { HeardServers } from './heard-servers.ts';
import { EncodedServerList } from './server-list.ts';
import { ServerLink } from './server-link.ts';
import { staticApp } from './static.ts';
import { loadHttpKit } from '../server/http-kit.ts';
import { Subscribers } from './subscribers.ts';

export { ServerLink } from './server-link.ts';

export interface RelayOptions {
  port: number;
  host?: string;
  /** Serve the web app from this folder (vite's outDir) on the same port. */
  webRoot?: string;
  /** Extra origins the web app may connect to, beyond the relay and local servers. */
  connectSrc?: string[];
  /** Changes to DEFAULT_RELAY_LIMITS (`cairn relay --max-servers` sets maxServers). */
  limits?: Partial<RelayLimits>;
  /** The clock announcements are judged by (expiry, rates, tenure). */
  now?: () => number;
  log?: (line: string) => void;
}

export interface RelayStats {
  /** Servers listed. */
  servers: number;
  /** Servers remembered (listed or recently listed: their last seq). */
  remembered: number;
  /** Open server links. */
  links: number;
  subscribers: number;
  /** Relayed client connections. */
  channels: number;
  /** Times the encoded list was joined from its entries. */
  listBuilds: number;
  /** Push rounds to subscribers. */
  pushes: number;
}

export interface Relay {
  /** http://HOST:PORT — what clients take as the grid URL. */
  readonly url: string;
  readonly port: number;
  readonly registry: Registry<ServerLink>;
  readonly limits: Readonly<RelayLimits>;
  stats(): RelayStats;
  close(): Promise<void>;
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const log = opts.log ?? (() => {});
  const now = opts.now ?? Date.now;
  const limits = relayLimits(opts.limits);
  const registry = new Registry<ServerLink>({
    now,
    maxServers: limits.maxServers,
    establishedMs: limits.establishedMs,
    rememberServers: limits.rememberServers,
  });
  const list = new EncodedServerList();
  const subscribers = new Subscribers({
    list: () => list.bytes(),
    intervalMs: limits.pushIntervalMs,
    stallMs: limits.subscriberStallMs,
    dropGraceMs: limits.dropGraceMs,
  });
  // Servers that never linked here but gossip with those that did (relay/heard-servers.ts).
  const heard = new HeardServers({
    limits: limits.heard,
    sources: () => registry.list().map((e) => e.announcement.url),
    isLinked: (id) => registry.remembers(id),
    now,
    log,
  });
  // The list served: every linked server, and the servers heard of that never linked.
  const refresh = (id: ServerId) => {
    const signed = registry.get(id)?.signed ?? heard.book.get(id);
    if (signed) list.set(id, signed);
    else list.delete(id);
    subscribers.changed();
  };
  registry.onChange((id, entry) => {
    // A link speaks for its server from now on; what was heard of it is dropped.
    if (entry) heard.book.forget(id);
    refresh(id);
  });
  heard.book.onChange((id) => refresh(id));
  // Every link that holds no listed server draws on this one bucket (see relay/limits.ts).
  const newcomers = new TokenBucket(limits.newcomers, now);
  const links = new Set<ServerLink>();
  const refusals = new ThrottledLog((line) => log(`refused an announcement: ${line}`));
  const sweeper = setInterval(() => registry.expire(), 30_000);
  sweeper.unref();

  const kit = await loadHttpKit();
  const { upgradeWebSocket } = kit;
  const app = new kit.Hono();
  app.get('/v1/servers', (c) => {
    const bytes = list.bytes();
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': 'application/cbor',
      'Cache-Control': 'no-store',
      // The list is public (signed announcements, the same the subscription socket sends to
      // anyone): a web app served from another origin (a static host, a CDN) may read it.
      'Access-Control-Allow-Origin': '*',
    });
  });

  app.get(
    '/v1/subscribe',
    upgradeWebSocket(() => ({
      onOpen(_ev, ws) {
        const raw = ws.raw as WebSocket;
        keepAlive(raw);
        subscribers.add(raw);
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
          const l = new ServerLink(ws.raw as WebSocket, limits, now);
          link = l;
          links.add(l);
          keepAlive(l.ws);
          l.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
            if (isBinary) onLinkMessage(l, toBytes(data));
          });
        },
        onClose() {
          if (!link) return;
          links.delete(link);
          link.closeAll();
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
    if (env.kind === EnvelopeKind.Data) link.toClient(env.channel, env.payload);
    else if (env.kind === EnvelopeKind.Close) link.serverClosed(env.channel);
    else if (env.kind === EnvelopeKind.Control) onControl(link, env.payload);
  }

  function onControl(link: ServerLink, payload: Uint8Array): void {
    const reply = (v: unknown) => link.send(EnvelopeKind.Control, 0, encodeCbor(v));
    const refuse = (c: ProtocolErrorCode, m: string, retryMs?: number) => {
      refusals.note(m);
      const retry = retryMs === undefined || !Number.isFinite(retryMs) ? {} : { retry: Math.ceil(retryMs) };
      reply({ t: 'rejected', c, m, ...retry });
    };
    // The link's own pace comes first, before a byte of the message is read.
    if (!link.announcements.take()) {
      link.strikes++;
      refuse(
        'RATE_LIMITED',
        `this link announces too often (at most ${limits.perLink.burst} at once, then ${perMinute(limits.perLink.perSecond)} a minute)`,
        link.announcements.msUntilToken(),
      );
      if (link.strikes >= limits.maxRateStrikes) link.ws.close(1008, 'announcing too often');
      return;
    }
    link.strikes = 0;
    // Servers not listed yet share one pace: a flood of made-up servers cannot crowd out
    // the renewals of listed ones, which never draw on it.
    if (registry.holds(link) === undefined && !newcomers.take()) {
      // The hint covers the link's own pace too: a server that follows it is never struck off.
      refuse(
        'RATE_LIMITED',
        'the relay is taking in new servers slowly just now; retry shortly',
        Math.max(newcomers.msUntilToken(), link.announcements.msUntilToken()),
      );
      return;
    }
    let signed: { body: Uint8Array; signature: Uint8Array };
    try {
      const f = new Fields(decodeCbor(payload, L.MAX_ANNOUNCEMENT_BYTES + 256), 'control');
      if (f.string('t', 32) !== 'announce') throw new ProtocolError('BAD_REQUEST', 'unknown control message');
      signed = { body: f.bytes('body', 1, L.MAX_ANNOUNCEMENT_BYTES), signature: f.bytes('sig', 64) };
    } catch (err) {
      refuse('BAD_REQUEST', err instanceof ProtocolError ? err.message : 'unreadable control message');
      return;
    }
    try {
      const { announcement, joined, displaced } = registry.announce(signed, link);
      if (displaced) {
        displaced.send(
          EnvelopeKind.Control,
          0,
          encodeCbor({
            t: 'rejected',
            c: 'RELAY_FULL',
            m: 'a server listed here longer came back and took this place (the relay is full)',
          }),
        );
      }
      if (joined) {
        heard.linked();
        log(
          `server ${announcement.serverId.slice(0, 12)}… (${announcement.nickname || 'no nickname'}) joined`,
        );
      }
      reply({ t: 'accepted', seq: announcement.seq });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // The holder of the server's place is being asked whether it is still there.
      refuse(err.code, err.message, err.code === 'ALREADY_LINKED' ? limits.probeTimeoutMs + 500 : undefined);
    }
  }

  app.get(
    '/v1/connect/:serverId',
    // Refuse before upgrading, so the client sees a failed connection, not an open-then-closed one.
    async (c, next) => {
      const entry = registry.get(c.req.param('serverId') ?? '');
      if (!entry?.link.isOpen()) {
        return c.text('that server is not connected to this relay', 404);
      }
      if (entry.link.channels.size >= limits.maxChannelsPerLink) {
        return c.text('that server has as many relayed clients as it may; try again later', 503);
      }
      await next();
    },
    upgradeWebSocket((c) => {
      const serverId = c.req.param('serverId') ?? '';
      let link: ServerLink | null = null;
      let channel = 0;
      let raw: WebSocket | null = null;
      return {
        onOpen(_ev, ws) {
          const client = ws.raw as WebSocket;
          raw = client;
          const entry = registry.get(serverId);
          if (!entry?.link.isOpen()) {
            client.close(4404, 'that server is not connected to this relay');
            return;
          }
          const l = entry.link;
          const ch = l.openChannel(client);
          if (ch === null) {
            client.close(1013, 'that server has as many relayed clients as it may; try again later');
            return;
          }
          keepAlive(client);
          link = l;
          channel = ch;
          client.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
            if (!isBinary) {
              // The answer a server gives a text message (core/protocol/README.md, Frames):
              // dropping it would leave the client waiting for a reply that never comes.
              client.send(
                encodeError(
                  0,
                  'BAD_REQUEST',
                  'frames are binary; text messages are not part of the protocol',
                ),
              );
              return;
            }
            const frame = toBytes(data);
            // The only thing the relay checks in a frame is its size (so one client cannot
            // break the server's link with a frame the link would refuse).
            if (frame.length > L.MAX_FRAME_BYTES) {
              client.send(
                encodeError(0, 'TOO_LARGE', `frame of ${frame.length} bytes exceeds ${L.MAX_FRAME_BYTES}`),
              );
              return;
            }
            if (!l.fromClient(client, ch, frame)) client.close(1011, 'the server went away');
          });
        },
        onClose() {
          if (link && raw) link.clientClosed(channel, raw);
        },
      };
    }),
  );

  if (opts.webRoot) {
    app.route(
      '/',
      staticApp(kit, {
        root: opts.webRoot,
        // The page may reach the relay, local servers, and every server the relay lists.
        connectSrc: () => [
          'ws://127.0.0.1:*',
          'ws://localhost:*',
          ...(opts.connectSrc ?? []),
          // Their HTTP origins too: each serves the list (GET /v1/servers), for a page whose relay is down.
          ...serverOrigins([
            ...registry.list().map((e) => e.announcement.url),
            ...heard.book.announcements().map((a) => a.url),
          ]).flatMap((o) => [o, o.replace(/^ws/, 'http')]),
        ],
      }),
    );
  }

  const host = opts.host ?? '127.0.0.1';
  const wss = new WebSocketServer({ noServer: true, maxPayload: L.WS_MAX_PAYLOAD + L.RELAY_ENVELOPE_BYTES });
  const http = kit.serve({ fetch: app.fetch, hostname: host, port: opts.port, websocket: { server: wss } });
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
    limits,
    stats() {
      let channels = 0;
      for (const l of links) channels += l.channels.size;
      return {
        servers: registry.size,
        remembered: registry.remembered,
        links: links.size,
        subscribers: subscribers.size,
        channels,
        listBuilds: list.builds,
        pushes: subscribers.pushes,
      };
    },
    async close() {
      clearInterval(sweeper);
      heard.stop();
      subscribers.close();
      refusals.flush();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

function perMinute(perSecond: number): string {
  const n = perSecond * 60;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
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
