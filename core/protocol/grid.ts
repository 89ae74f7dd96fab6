/**
 * A client's view of the grid: the servers the relay lists, each with a verified
 * announcement. `fetchGridServers` asks once (HTTP), `subscribeToGrid` follows changes
 * (WebSocket, reconnecting). The signed list round-trips through `encodeServerList` /
 * `decodeServerList` so a client can cache it (a file for the CLI, IndexedDB in a tab)
 * and work from it while the relay is down; decoding re-verifies every signature.
 */
import { WebSocketImpl } from '#ws';
import type { ServerId } from '../types.ts';
import {
  type Announcement,
  relayEndpoint,
  relayRoute,
  type SignedAnnouncement,
  verifyAnnouncement,
} from './announcement.ts';
import { checkArray, decodeCbor, encodeCbor, Fields } from './cbor.ts';
import { ProtocolError } from './errors.ts';
import * as L from './limits.ts';
import type { WebSocketConstructor, WebSocketLike } from './transport.ts';

export interface GridServer extends Announcement {
  /** The signed form, for caching. */
  signed: SignedAnnouncement;
}

const MAX_LIST_BYTES = L.MAX_GRID_SERVERS * (L.MAX_ANNOUNCEMENT_BYTES + 128);
/**
 * A list fresh from the relay was already pruned by the relay's clock; ours may be off
 * (a laptop, a phone). Its expiry times are only held against a clock a day behind ours,
 * so a skewed client does not throw away every server. Signatures are always checked.
 */
const LIVE_LIST_SKEW_MS = 24 * 3600 * 1000;

/** Signed announcements → CBOR bytes (the relay's wire form and the cache form). */
export function encodeServerList(list: SignedAnnouncement[]): Uint8Array {
  return encodeCbor({ t: 'servers', servers: list.map((s) => ({ body: s.body, sig: s.signature })) });
}

/**
 * CBOR bytes → verified servers. Entries with a bad signature are dropped; expired ones
 * too, unless `keepExpired` (a cache read while the relay is down: old news beats none).
 */
export function decodeServerList(bytes: Uint8Array, now: number, keepExpired = false): GridServer[] {
  const f = new Fields(decodeCbor(bytes, MAX_LIST_BYTES), 'server list');
  const out: GridServer[] = [];
  const seen = new Set<string>();
  for (const item of checkArray(f.raw('servers'), L.MAX_GRID_SERVERS, 'servers')) {
    try {
      const e = new Fields(item, 'server');
      const signed = { body: e.bytes('body', 1, L.MAX_ANNOUNCEMENT_BYTES), signature: e.bytes('sig', 64) };
      let ann: Announcement;
      try {
        ann = verifyAnnouncement(signed, now);
      } catch (err) {
        if (!keepExpired) throw err;
        ann = verifyAnnouncement(signed, 0);
      }
      if (seen.has(ann.serverId)) continue;
      seen.add(ann.serverId);
      out.push({ ...ann, signed });
    } catch {
      // One bad entry does not spoil the others.
    }
  }
  return out;
}

/** Where to reach a server, best first: its own URL, then through the relay. */
export function serverRoutes(
  server: Pick<Announcement, 'serverId' | 'url'>,
  relayUrl: string | null,
): string[] {
  const routes: string[] = [];
  if (server.url) routes.push(server.url);
  if (relayUrl) routes.push(relayRoute(relayUrl, server.serverId as ServerId));
  return routes;
}

/** One look at the relay's list. */
export async function fetchGridServers(
  relayUrl: string,
  opts: { timeoutMs?: number } = {},
): Promise<GridServer[]> {
  const url = relayEndpoint(relayUrl, '/v1/servers').replace(/^ws/, 'http');
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000) });
  } catch (err) {
    throw new ProtocolError('RELAY_UNAVAILABLE', `cannot reach the relay at ${new URL(url).host}`, {
      cause: err,
    });
  }
  if (!res.ok) throw new ProtocolError('RELAY_UNAVAILABLE', `the relay answered ${res.status}`);
  return decodeServerList(new Uint8Array(await res.arrayBuffer()), Date.now() - LIVE_LIST_SKEW_MS);
}

export interface GridSubscription {
  /** The latest list (empty until the first arrives). */
  readonly servers: GridServer[];
  /** Resolves with the first list. */
  readonly ready: Promise<GridServer[]>;
  close(): void;
}

export interface SubscribeOptions {
  WebSocket?: WebSocketConstructor;
  /** Reconnect delay bounds (default 500 ms … 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Follows the relay's list; `onChange` runs with every new list. Reconnects until closed. */
export function subscribeToGrid(
  relayUrl: string,
  onChange: (servers: GridServer[]) => void,
  opts: SubscribeOptions = {},
): GridSubscription {
  const Ctor = opts.WebSocket ?? (WebSocketImpl as WebSocketConstructor | undefined);
  if (!Ctor) throw new ProtocolError('CONNECTION_FAILED', 'this platform has no WebSocket');
  const url = relayEndpoint(relayUrl, '/v1/subscribe');
  const minBackoff = opts.minBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  let backoff = minBackoff;
  let closed = false;
  let ws: WebSocketLike | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resolveReady!: (s: GridServer[]) => void;
  const ready = new Promise<GridServer[]>((r) => {
    resolveReady = r;
  });
  const sub = {
    servers: [] as GridServer[],
    ready,
    close() {
      closed = true;
      clearTimeout(timer);
      ws?.close(1000);
    },
  };
  const connect = () => {
    if (closed) return;
    ws = new Ctor(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      backoff = minBackoff;
    };
    ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      let list: GridServer[];
      try {
        list = decodeServerList(new Uint8Array(ev.data), Date.now() - LIVE_LIST_SKEW_MS);
      } catch {
        return;
      }
      sub.servers = list;
      resolveReady(list);
      onChange(list);
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      ws = null;
      if (closed) return;
      timer = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, maxBackoff);
    };
  };
  connect();
  return sub;
}
