/**
 * A storage server process: the StorageServer core on a disk backend, its identity, a
 * hono HTTP server whose /v1/storage WebSocket speaks the storage protocol, and (when a
 * relay is given) the outbound link that announces it and carries relayed clients.
 */
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { type HttpKit, loadHttpKit } from './http-kit.ts';
import { WebSocket, WebSocketServer } from '../core/protocol/ws-package.ts';
import { encodeError } from '../core/protocol/frames.ts';
import { GridManagerError, readCertificate, type SignedCertificate } from '../core/protocol/grid-manager.ts';
import { type ServerKeyPair, serverLeaseSeed } from '../core/protocol/identity.ts';
import { keepAlive } from '../core/protocol/keepalive.ts';
import { corkForTurn } from '../core/protocol/ws-node.ts';
import * as L from '../core/protocol/limits.ts';
import { listenError } from '../core/protocol/listen-error.ts';
import type { ServerId } from '../core/types.ts';
import type { ShareBackend } from './backends/backend.ts';
import { type CrawlerPace, LeaseCrawler } from './crawler.ts';
import { lockDir } from './dir-lock.ts';
import { DiskBackend, storageFolder } from './backends/disk-backend.ts';
import type { ExpiryConfig } from './expiry.ts';
import { RequestHandler } from './handler.ts';
import { loadOrCreateIdentity } from './identity-store.ts';
import { SelfAnnouncer } from './announcer.ts';
import { Gossip } from './gossip/gossip.ts';
import type { GossipLimits } from './gossip/limits.ts';
import { RelayLink } from './relay-link.ts';
import { StorageServer } from './storage-server.ts';

export interface StorageNodeOptions {
  /**
   * Keeps the key (private/server.key) and the shares (storage/); a Tahoe node's storage
   * folder (NODEDIR/storage, holding shares/) is served in place, as is a Tahoe node folder.
   */
  dir: string;
  /**
   * Where the shares live. Absent: the disk backend in `dir` (Tahoe's layout). Given: the
   * server keeps only its key and its crawler's state in `dir` (an S3 backend, say).
   */
  backend?: ShareBackend;
  /** Port to listen on (0 picks one); null or absent: no listening socket (relay only). */
  port?: number | null;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** The ws:// URL to announce, when the server is reached by another name than host:port. */
  publicUrl?: string;
  /** The relay (http://HOST:PORT) to announce to and take relayed clients from. */
  relayUrl?: string;
  /**
   * Servers to join through (http://HOST:PORT or their ws:// storage URL): this server
   * learns the grid from them and they from it, relay or none (server/gossip/).
   */
  peers?: string[];
  /** Changes to the gossip figures (tests make rounds shorter). */
  gossip?: Partial<GossipLimits>;
  nickname?: string;
  /** Grid managers' certificates for this server, carried in its announcements. */
  certificates?: SignedCertificate[];
  reservedSpace?: number;
  /** File handles the server may hold (default: a quarter of the process's open-file limit). */
  maxOpenFiles?: number;
  uploadIdleTimeoutMs?: number;
  /** How long uploads of a closed connection wait for the client to come back (default 30 s). */
  uploadGraceMs?: number;
  /** Uploads in progress, all connections together. */
  maxPendingUploads?: number;
  /**
   * Lease expiry (expiry.ts): the mode and whether it is a dry run. Default off: the lease
   * crawler only counts, and shares are kept until removed by hand.
   */
  expiry?: ExpiryConfig;
  /** The lease crawler's pace (crawler.ts DEFAULT_PACE for what is not given). */
  crawlPace?: Partial<CrawlerPace>;
  /** Bytes of unfinished uploads kept for their clients to resume (default 16 GiB; 0 keeps none). */
  maxParkedBytes?: number;
  announceIntervalMs?: number;
  now?: () => number;
  log?: (line: string) => void;
}

export interface StorageNode {
  readonly serverId: ServerId;
  readonly key: ServerKeyPair;
  /** Direct WebSocket URL, or null when relay-only. */
  readonly url: string | null;
  readonly port: number | null;
  readonly server: StorageServer;
  readonly relayLink: RelayLink | null;
  /** The announcements this server knows and passes on. */
  readonly gossip: Gossip;
  /** Walks the shares: counts them, expires leases if asked (status() for its figures). */
  readonly crawler: LeaseCrawler;
  close(): Promise<void>;
}

/** Replies queued beyond this mean the client is not reading them: drop the connection. */
const MAX_CONNECTION_BUFFER = 64 * 1024 * 1024;

export async function startStorageNode(opts: StorageNodeOptions): Promise<StorageNode> {
  if ((opts.port === null || opts.port === undefined) && !opts.relayUrl) {
    throw new Error('a storage server needs a port to listen on, a relay to reach it through, or both');
  }
  const log = opts.log ?? (() => {});
  const dir = path.resolve(opts.dir);
  const unlock = await lockDir(dir);
  try {
    return await startLocked(opts, dir, log, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

async function startLocked(
  opts: StorageNodeOptions,
  dir: string,
  log: (line: string) => void,
  unlock: () => Promise<void>,
): Promise<StorageNode> {
  const key = await loadOrCreateIdentity(dir);
  for (const cert of opts.certificates ?? []) {
    const c = readCertificate(cert);
    if (c.serverId !== key.serverId) {
      throw new GridManagerError(
        'BAD_CERTIFICATE',
        `the grid manager certificate is for server ${c.serverId}, not this one (${key.serverId}); ask the grid manager for one naming this server`,
      );
    }
    if (c.expires <= (opts.now ?? Date.now)()) {
      log(
        `the grid manager certificate expired ${new Date(c.expires).toISOString()}: clients of a managed grid will not use this server until it has a new one`,
      );
    }
  }
  let backend = opts.backend;
  if (!backend) {
    const storageDir = await storageFolder(dir);
    if (storageDir === dir) log(`serving the Tahoe storage folder ${dir} (its shares/ in place)`);
    backend = new DiskBackend(dir, { maxOpenFiles: opts.maxOpenFiles, storageDir });
  } else {
    // The crawler's state is kept there; the shares are elsewhere.
    await fs.mkdir(path.join(dir, 'storage'), { recursive: true });
  }
  const server = new StorageServer({
    backend,
    nodeId: serverLeaseSeed(key.serverId),
    reservedSpace: opts.reservedSpace,
    uploadIdleTimeoutMs: opts.uploadIdleTimeoutMs,
    uploadGraceMs: opts.uploadGraceMs,
    maxPendingUploads: opts.maxPendingUploads,
    maxParkedBytes: opts.maxParkedBytes,
    maxParkedUploads: opts.maxParkedBytes === 0 ? 0 : undefined,
    now: opts.now,
    log,
  });
  await server.start();
  const crawler = new LeaseCrawler({
    target: server,
    statePath: path.join(dir, 'storage', 'lease-crawler.json'),
    statusPath: path.join(dir, 'storage', 'status.json'),
    expiry: opts.expiry ?? { mode: null, dryRun: false },
    pace: opts.crawlPace,
    now: opts.now,
    availableSpace: () => server.availableSpace(),
    log,
  });
  const handler = new RequestHandler(server, key, log);

  let http: ReturnType<typeof serve> | null = null;
  let wss: WebSocketServer | null = null;
  let url: string | null = null;
  let port: number | null = null;
  const describe = async () => ({
    nickname: opts.nickname ?? '',
    url,
    availableSpace: await server.availableSpace(),
    certificates: opts.certificates,
  });
  const announcer = new SelfAnnouncer(key, describe, opts.now);
  const gossip = new Gossip({
    selfId: key.serverId,
    announcer,
    peers: opts.peers,
    relayUrl: opts.relayUrl,
    limits: { ...(opts.announceIntervalMs ? { intervalMs: opts.announceIntervalMs } : {}), ...opts.gossip },
    now: opts.now,
    log,
  });
  if (opts.port !== null && opts.port !== undefined) {
    const kit = await loadHttpKit();
    const app = storageApp(kit, handler, key, crawler, server);
    gossip.routes(app, kit);
    wss = new WebSocketServer({ noServer: true, maxPayload: L.WS_MAX_PAYLOAD });
    const host = opts.host ?? '127.0.0.1';
    http = kit.serve({ fetch: app.fetch, hostname: host, port: opts.port, websocket: { server: wss } });
    await listening(http, opts.port);
    port = (http.address() as AddressInfo).port;
    // A wildcard address is no place to send clients: announce the machine's name instead.
    const name = host === '0.0.0.0' || host === '::' ? os.hostname() : host;
    url = opts.publicUrl ?? `ws://${name.includes(':') ? `[${name}]` : name}:${port}/v1/storage`;
  }

  let relayLink: RelayLink | null = null;
  if (opts.relayUrl) {
    relayLink = new RelayLink({
      relayUrl: opts.relayUrl,
      key,
      handler,
      describe,
      announcer,
      announceIntervalMs: opts.announceIntervalMs,
      now: opts.now,
      log,
    });
    relayLink.start();
  }
  gossip.start();
  // Last: a server that failed to come up leaves no crawler behind.
  await crawler.start();
  log(`storage server ${key.serverId} ${url ? `listening at ${url}` : 'reachable through the relay only'}`);

  return {
    serverId: key.serverId,
    key,
    url,
    port,
    server,
    relayLink,
    gossip,
    crawler,
    async close() {
      relayLink?.stop();
      gossip.stop();
      if (wss) for (const c of wss.clients) c.terminate();
      if (http) await new Promise<void>((r) => http.close(() => r()));
      await crawler.stop();
      await server.stop();
      await unlock();
    },
  };
}

/**
 * The HTTP face: /v1/storage (WebSocket), /v1/id (who am I, for people and scripts) and
 * /v1/status (space and the lease crawler's figures: counts and sizes only, no storage index).
 */
function storageApp(
  { Hono, upgradeWebSocket }: HttpKit,
  handler: RequestHandler,
  key: ServerKeyPair,
  crawler: LeaseCrawler,
  server: StorageServer,
): Hono {
  const app = new Hono();
  app.get('/v1/id', (c) => c.json({ serverId: key.serverId }));
  app.get('/v1/status', async (c) =>
    c.json({
      serverId: key.serverId,
      availableSpace: await server.availableSpace(),
      ...(await crawler.status()),
    }),
  );
  app.get(
    '/v1/storage',
    upgradeWebSocket(() => {
      return {
        // Frames are taken from the ws socket directly (no onMessage here): hono's
        // onMessage would copy each one into a fresh ArrayBuffer first.
        onOpen(_ev, ws) {
          const raw = ws.raw as WebSocket;
          keepAlive(raw);
          const session = handler.session(
            (reply) => {
              if (raw.readyState !== WebSocket.OPEN) return;
              if (raw.bufferedAmount > MAX_CONNECTION_BUFFER) {
                raw.close(1008, 'replies are not being read');
                return;
              }
              corkForTurn(raw);
              // ws frames a server's reply without copying it: the bytes are the socket's
              // until its write callback.
              raw.send(reply.frame, reply.written);
            },
            { flow: raw },
          );
          raw.once('close', () => session.close());
          raw.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
            if (!isBinary) {
              raw.send(
                encodeError(
                  0,
                  'BAD_REQUEST',
                  'frames are binary; text messages are not part of the protocol',
                ),
              );
              return;
            }
            session.frame(toBytes(data));
          });
        },
      };
    }),
  );
  return app;
}

function toBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const b = Array.isArray(data) ? Buffer.concat(data) : data;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function listening(server: ReturnType<typeof serve>, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (server.listening) resolve();
    server.once('listening', () => resolve());
    server.once('error', (err) => reject(listenError(err, port)));
  });
}
