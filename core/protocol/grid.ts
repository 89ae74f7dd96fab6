/**
 * A client's view of the grid: the servers the relay lists, each with a verified
 * announcement. `fetchGridServers` asks once (HTTP), `subscribeToGrid` follows changes
 * (WebSocket, reconnecting). The signed list round-trips through `encodeServerList` /
 * `decodeServerList` so a client can cache it (a file for the CLI, IndexedDB in a tab)
 * and work from it while the relay is down; decoding re-verifies every signature.
 */
import { sha256 } from '#sha256';
import { httpGetBytes } from '#http-get';
import { WebSocketImpl } from '#ws';
import { concatBytes } from '../primitives/bytes.ts';
import type { HttpGetResult } from './http-get.ts';
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

/**
 * A list fresh from the relay was already pruned by the relay's clock; ours may be off
 * (a laptop, a phone). Its expiry times are only held against a clock a day behind ours,
 * so a skewed client does not throw away every server. Signatures are always checked.
 */
const LIVE_LIST_SKEW_MS = 24 * 3600 * 1000;

/** Signed announcements → CBOR bytes (the relay's wire form and the cache form). */
export function encodeServerList(list: SignedAnnouncement[]): Uint8Array {
  return joinServerList(list.map(encodeServerEntry));
}

/** One entry of a server list, `{body, sig}` in CBOR: encoded once, joined many times. */
export function encodeServerEntry(signed: SignedAnnouncement): Uint8Array {
  return encodeCbor({ body: signed.body, sig: signed.signature });
}

/** `{t: 'servers', servers: [` — the list's head up to its array header. */
const LIST_HEAD = (() => {
  const empty = encodeCbor({ t: 'servers', servers: [] });
  // The empty list ends with the array header 0x80; everything before it is the fixed head.
  if (empty[empty.length - 1] !== 0x80) throw new Error('unexpected CBOR for the empty server list');
  return empty.subarray(0, empty.length - 1);
})();

/**
 * Entries from `encodeServerEntry` → the whole list, byte for byte what `encodeServerList`
 * gives: a copy of each entry behind a fixed head, no re-encoding. The relay keeps its
 * entries encoded and joins them only when the list is read after a change.
 */
export function joinServerList(entries: readonly Uint8Array[]): Uint8Array {
  const head = cborArrayHead(entries.length);
  let size = LIST_HEAD.length + head.length;
  for (const e of entries) size += e.length;
  const out = new Uint8Array(size);
  out.set(LIST_HEAD, 0);
  out.set(head, LIST_HEAD.length);
  let pos = LIST_HEAD.length + head.length;
  for (const e of entries) {
    out.set(e, pos);
    pos += e.length;
  }
  return out;
}

function cborArrayHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x80 | n);
  if (n < 0x100) return Uint8Array.of(0x98, n);
  if (n < 0x10000) return Uint8Array.of(0x99, n >> 8, n & 0xff);
  return Uint8Array.of(0x9a, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/**
 * At most `max` servers of a list, for a client choosing whom to connect to: a relay (or a
 * cached list) may name more servers than a client should open sockets to, and anyone can
 * announce a self-made server. Keeps the servers whose announcements run latest: a live
 * server renews every minute, so a late `expires` is the freshest sign of life. An
 * announcement claiming to live longer than the lifetime (plus clock skew) past `now` is
 * one no honest server signs and no relay lists, so it ranks last, not first. Ties keep
 * the list's order (a relay lists the servers it has held longest first), which is also
 * what decides when this client's clock is far off. Returns the kept servers in list
 * order; all of them when there are at most `max`. Pure.
 */
export function boundServerList<S extends Pick<Announcement, 'expires'>>(
  list: readonly S[],
  max: number,
  now: number = Date.now(),
): S[] {
  if (!Number.isInteger(max) || max < 0) {
    throw new ProtocolError('BAD_REQUEST', `a server bound is a whole number, not ${max}`);
  }
  if (list.length <= max) return list.slice();
  const ceiling = now + L.ANNOUNCEMENT_LIFETIME_MS + L.ANNOUNCEMENT_CLOCK_SKEW_MS;
  const rank = (s: S) => (s.expires <= ceiling ? s.expires : Number.NEGATIVE_INFINITY);
  const ranked = list.map((s, i) => ({ i, r: rank(s) }));
  ranked.sort((x, y) => (x.r === y.r ? x.i - y.i : y.r > x.r ? 1 : -1));
  const keep = ranked.slice(0, max).map((x) => x.i);
  keep.sort((x, y) => x - y);
  return keep.map((i) => list[i]);
}

/**
 * CBOR bytes → verified servers. Entries with a bad signature are dropped; expired ones
 * too, unless `keepExpired` (a cache read while the relay is down: old news beats none).
 */
export function decodeServerList(bytes: Uint8Array, now: number, keepExpired = false): GridServer[] {
  const out: GridServer[] = [];
  const seen = new Set<string>();
  for (const signed of parseServerList(bytes, L.MAX_GRID_SERVERS)) {
    try {
      if (signed === null) continue;
      const ann = verifiedAnnouncement(signed);
      if (ann.expires <= now && !keepExpired) continue;
      if (seen.has(ann.serverId)) continue;
      seen.add(ann.serverId);
      out.push({ ...ann, signed });
    } catch {
      // One bad entry does not spoil the others.
    }
  }
  return out;
}

/**
 * A server list's entries as signed announcements, NOT verified (null for an entry that is
 * not `{body, sig}`): for a reader that judges each entry itself (a server taking gossip
 * checks each with the relay's admission rules, relay/registry.ts). Throws BAD_REQUEST or
 * BAD_FRAME for bytes that are not a list of at most `maxEntries`.
 */
export function parseServerList(bytes: Uint8Array, maxEntries: number): Array<SignedAnnouncement | null> {
  const f = new Fields(decodeCbor(bytes, maxEntries * (L.MAX_ANNOUNCEMENT_BYTES + 128) + 64), 'server list');
  return checkArray(f.raw('servers'), maxEntries, 'servers').map((item) => {
    try {
      const e = new Fields(item, 'server');
      return { body: e.bytes('body', 1, L.MAX_ANNOUNCEMENT_BYTES), signature: e.bytes('sig', 64) };
    } catch {
      return null;
    }
  });
}

/**
 * The HTTP origin behind a grid URL: a relay's (http://HOST:PORT) or a storage server's,
 * given as its HTTP origin or as its announced storage URL (ws://HOST:PORT/v1/storage).
 * Every server serves the signed list it knows at the same path as the relay
 * (`/v1/servers`), so either can bootstrap a client.
 */
export function gridOrigin(url: string): string {
  // relayEndpoint checks the scheme and drops query and fragment.
  const u = new URL(relayEndpoint(url, '').replace(/^ws/, 'http'));
  const prefix = u.pathname.replace(/\/+$/, '').replace(/\/v1\/storage$/, '');
  return `${u.protocol}//${u.host}${prefix}`;
}

/**
 * Announcements whose signature this process has checked, by their exact bytes. A client
 * fetches the list every few seconds and it rarely changes; an ed25519 check in JS costs
 * 1-5 ms, so checking every entry of every fetch again cost a busy client a quarter of its
 * CPU (bench:load: 25 clients in one process, 10 servers), and a tab on a full relay (300
 * servers) about a second of every five. The same bytes verify the same way every time,
 * so a hit needs no new check; the expiry is still judged against `now` at each decode.
 */
const verified = new Map<string, Announcement>();
const MAX_VERIFIED = L.MAX_GRID_SERVERS;
let signatureChecks = 0;

/** Signature checks made so far by decodeServerList in this process (tests). */
export const serverListSignatureChecks = (): number => signatureChecks;

function verifiedAnnouncement(signed: SignedAnnouncement): Announcement {
  const key = bytesKey(signed.signature, signed.body);
  const hit = verified.get(key);
  if (hit) {
    // Most recently used last, so the oldest goes first when the map is full.
    verified.delete(key);
    verified.set(key, hit);
    return hit;
  }
  signatureChecks++;
  const ann = verifyAnnouncement(signed, Number.NEGATIVE_INFINITY);
  verified.set(key, ann);
  if (verified.size > MAX_VERIFIED) verified.delete(verified.keys().next().value as string);
  return ann;
}

/** A map key for exact bytes: SHA-256 of the signature and the body. */
function bytesKey(signature: Uint8Array, body: Uint8Array): string {
  return String.fromCharCode(...sha256(concatBytes(signature, body)));
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
  const url = `${gridOrigin(relayUrl)}/v1/servers`;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  let res: HttpGetResult;
  try {
    res = await httpGetBytes(url, signal).catch((err) => {
      // A kept-alive connection the relay closed while idle fails at once ("other side
      // closed"), most often in a client whose event loop was busy when the close came. A
      // browser retries such a GET on a new connection by itself; Node does not.
      // One more try, within the same time budget.
      if (signal.aborted) throw err;
      return httpGetBytes(url, signal);
    });
  } catch (err) {
    throw new ProtocolError('RELAY_UNAVAILABLE', `cannot reach the relay at ${new URL(url).host}`, {
      cause: err,
    });
  }
  if (res.status < 200 || res.status > 299)
    throw new ProtocolError('RELAY_UNAVAILABLE', `the relay answered ${res.status}`);
  return decodeServerList(res.body, Date.now() - LIVE_LIST_SKEW_MS);
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
