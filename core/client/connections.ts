/**
 * One grid as a client sees it: the servers its relay lists (cached through a
 * ServerListCache, so a relay that is down costs nothing but fresh news), connections to
 * them opened on demand and kept for later jobs, and a probe of each server's state. The
 * CLI, the tab's grid worker and tests all reach servers through this one class.
 */
import { connectToServer } from '../grid/connect.ts';
import { NoServersError } from '../grid/errors.ts';
import type { StorageConnection } from '../protocol/client.ts';
import {
  boundServerList,
  decodeServerList,
  encodeServerList,
  fetchGridServers,
  type GridServer,
} from '../protocol/grid.ts';
import { DEFAULT_MAX_LISTED_SERVERS } from '../protocol/limits.ts';
import { certifiedBy, type GridManagerId } from '../protocol/grid-manager.ts';
import type { ServerId } from '../types.ts';
import type { ServerListCache } from './server-list-cache.ts';

/** Servers asked at once for the grid's list when the grid URL does not answer. */
const ASK_SERVERS = 3;

/** A list up to this many times listMaxAgeMs old is used while a fresh one is fetched. */
const STALE_FACTOR = 12;

export interface GridOptions {
  /**
   * The grid's URL: its relay's, or any one storage server's (http://HOST:PORT or its
   * ws:// storage URL), since every server serves the list it knows; null when none is known, which is fine for
   * literal caps: only a call that needs servers fails, with `noGrid()`'s error.
   */
  url: string | null;
  noGrid?(): Error;
  /**
   * Grid managers this client trusts (Tahoe's [grid_managers]): when any are given, only
   * servers announcing a live certificate from one of them are used, for every operation,
   * and the others are never sent a byte. None given: every listed server is used.
   */
  gridManagers?: readonly GridManagerId[];
  /** More grid URLs (servers or relays) to ask when `url` does not answer (an invite's others). */
  seeds?: readonly string[];
  cache?: ServerListCache;
  /**
   * How long a fetched list is used before asking the relay again (default 5 s). A list older
   * than that but younger than STALE_FACTOR times it is still used at once while the fresh
   * one is fetched, so an action after a pause does not wait a round trip to the relay first.
   */
  listMaxAgeMs?: number;
  /** Relay fetch timeout (default 5 s). */
  listTimeoutMs?: number;
  /** Connect + handshake timeout per server (default 5 s). */
  connectTimeoutMs?: number;
  /**
   * A request to a server that gets no answer in this time fails with TIMEOUT, and the job
   * moves on without that server where it can (default 60 s: the connection's own bound).
   * This is the most a hung server can hold up any one step of a read or write.
   */
  requestTimeoutMs?: number;
  /**
   * Most servers this client connects to (default: what a relay lists at most). A list
   * padded with self-made servers cannot make the client open thousands of sockets.
   */
  maxServers?: number;
  /** Told about degraded service (relay down, a server unreachable); never given secrets. */
  warn?(line: string): void;
}

export interface ServerStatus {
  id: ServerId;
  nickname: string;
  connected: boolean;
  /** Bytes the server still accepts; null when not known. */
  availableSpace: number | null;
  /** Round trip of a version request in ms; null when not connected. */
  rttMs: number | null;
  /**
   * Not connected, and the reason is the server's: something answered at its address but
   * refused this client (a failed handshake, an error instead of its version). False when
   * nothing answered at all (unreachable).
   */
  refusing?: boolean;
  /** Why it is not connected, in the words of the error (no secrets); absent when connected. */
  problem?: string;
}

/** Errors that mean a server was reached but refused us, as opposed to not reached at all. */
const REFUSALS = new Set(['HANDSHAKE_FAILED', 'BAD_SERVER_ID', 'BAD_FRAME', 'BAD_REQUEST', 'NOT_FOUND']);
const codeOf = (err: unknown) => (err as { code?: unknown } | null)?.code;

export class GridConnections {
  readonly url: string | null;
  readonly #noGrid: () => Error;
  readonly #cache: ServerListCache | undefined;
  readonly #maxAge: number;
  readonly #listTimeout: number;
  readonly #connectTimeout: number;
  readonly #requestTimeout: number | undefined;
  readonly #maxServers: number;
  readonly #warn: (line: string) => void;
  readonly #managers: readonly GridManagerId[];
  readonly #seeds: readonly string[];
  /** Listed servers left out for want of a certificate, at the last fetch. */
  #uncertified = 0;
  #list: { at: number; servers: GridServer[] } | null = null;
  #listing: Promise<GridServer[]> | null = null;
  readonly #conns = new Map<ServerId, Promise<StorageConnection | null>>();
  /** The last connection failure of each server, for probe(). */
  readonly #failures = new Map<ServerId, unknown>();

  constructor(opts: GridOptions) {
    this.url = opts.url;
    this.#noGrid = opts.noGrid ?? (() => new NoServersError('no grid is configured'));
    this.#cache = opts.cache;
    this.#maxAge = opts.listMaxAgeMs ?? 5_000;
    this.#listTimeout = opts.listTimeoutMs ?? 5_000;
    this.#connectTimeout = opts.connectTimeoutMs ?? 5_000;
    this.#requestTimeout = opts.requestTimeoutMs;
    this.#maxServers = opts.maxServers ?? DEFAULT_MAX_LISTED_SERVERS;
    this.#warn = opts.warn ?? (() => {});
    this.#managers = opts.gridManagers ?? [];
    this.#seeds = opts.seeds ?? [];
  }

  /**
   * The servers the relay lists: the list fetched within listMaxAgeMs; else one fetched within
   * STALE_FACTOR times that, at once, while a fresh one is fetched (a server that joined since
   * is used from the next call; one that left fails to connect and is passed over, as when the
   * relay still lists it); else the fresh one, or the cached list when the relay does not answer.
   * `fresh`: no list past its age, for a report of the grid's state (probe).
   */
  servers(opts: { fresh?: boolean } = {}): Promise<GridServer[]> {
    const list = this.#list;
    const age = list ? Date.now() - list.at : Number.POSITIVE_INFINITY;
    if (list && age <= this.#maxAge) return Promise.resolve(list.servers);
    this.#listing ??= this.#fetchList().finally(() => {
      this.#listing = null;
    });
    if (list && !opts.fresh && age <= STALE_FACTOR * this.#maxAge) {
      this.#listing.catch(() => {}); // its warnings are told; a later call past the window sees the error
      return Promise.resolve(list.servers);
    }
    return this.#listing;
  }

  async #fetchList(): Promise<GridServer[]> {
    const url = this.url;
    if (url === null) throw this.#noGrid();
    let servers: GridServer[];
    try {
      servers = await fetchGridServers(url, { timeoutMs: this.#listTimeout });
      await this.#saveList(url, servers);
    } catch (err) {
      const cached = await this.#cache?.load(url).catch(() => null);
      // Signatures are checked again; expired entries are kept: old news beats none.
      const known = this.#list?.servers ?? (cached ? decodeServerList(cached, Date.now(), true) : []);
      const asked = await this.#askServers(known);
      if (asked) {
        // A server's list may lag (one that started with the others has not heard of them
        // all yet): what it says adds to what was known, and never makes the list shorter.
        servers = mergeServerLists(asked.servers, known);
        this.#warn(
          `${(err as Error).message}; using the ${servers.length} server(s) it listed last time or ${asked.from} lists now`,
        );
        await this.#saveList(url, servers);
      } else if (cached) {
        servers = decodeServerList(cached, Date.now(), true);
        this.#warn(`${(err as Error).message}; using the ${servers.length} server(s) it listed last time`);
      } else {
        throw err;
      }
    }
    servers = this.#admitted(servers);
    servers = boundServerList(servers, this.#maxServers);
    this.#list = { at: Date.now(), servers };
    return servers;
  }

  /** The servers a trusted grid manager certifies (all of them when no manager is configured). */
  #admitted(servers: GridServer[]): GridServer[] {
    if (this.#managers.length === 0) return servers;
    const now = Date.now();
    const kept = servers.filter(
      (s) => certifiedBy(s.certificates ?? [], s.serverId, this.#managers, now) !== null,
    );
    this.#uncertified = servers.length - kept.length;
    return kept;
  }

  async #saveList(url: string, servers: GridServer[]): Promise<void> {
    await this.#cache
      ?.save(url, encodeServerList(servers.map((s) => s.signed)))
      .catch((err) => this.#warn(`could not cache the server list: ${(err as Error).message}`));
  }

  /**
   * The grid URL did not answer (a relay that is down, a server gone): every server serves
   * the list it knows at the same path (Tahoe ticket #3457), so ask the other grid URLs given
   * and a few of the servers seen last, at once; the first that answers with a list wins.
   * Null when none does.
   */
  async #askServers(known: GridServer[]): Promise<{ from: string; servers: GridServer[] } | null> {
    const candidates = [
      ...this.#seeds.map((url) => ({ url, name: url })),
      ...shuffled(known.filter((s) => s.url !== null))
        .slice(0, ASK_SERVERS)
        .map((s) => ({ url: s.url as string, name: `server ${s.serverId.slice(0, 12)}…` })),
    ];
    if (candidates.length === 0) return null;
    try {
      return await Promise.any(
        candidates.map(async (c) => {
          const servers = await fetchGridServers(c.url, { timeoutMs: this.#listTimeout });
          if (servers.length === 0) throw new NoServersError('that server knows no servers');
          return { from: c.name, servers };
        }),
      );
    } catch {
      return null;
    }
  }

  #connect(server: GridServer): Promise<StorageConnection | null> {
    const cached = this.#conns.get(server.serverId);
    if (cached) return cached;
    // The direct URL first, then the relay route (a direct URL may be unreachable from here).
    const attempt = connectToServer(server, this.url, {
      connectTimeoutMs: this.#connectTimeout,
      requestTimeoutMs: this.#requestTimeout,
    }).then(
      (conn) => {
        this.#failures.delete(server.serverId);
        void conn.closed.then(() => {
          if (this.#conns.get(server.serverId) === attempt) this.#conns.delete(server.serverId);
        });
        return conn;
      },
      (err) => {
        this.#conns.delete(server.serverId);
        this.#failures.set(server.serverId, err);
        this.#warn(`cannot reach server ${server.serverId.slice(0, 12)}…: ${(err as Error).message}`);
        return null;
      },
    );
    this.#conns.set(server.serverId, attempt);
    return attempt;
  }

  /** Every listed server that answers, connected (in parallel). */
  async connected(): Promise<StorageConnection[]> {
    const all = await Promise.all((await this.servers()).map((s) => this.#connect(s)));
    return all.filter((c): c is StorageConnection => c !== null && !c.isClosed);
  }

  /** Like connected(), but fails with a clear error when no server answers. */
  async requireServers(): Promise<StorageConnection[]> {
    const servers = await this.servers();
    const conns = await this.connected();
    if (conns.length === 0) {
      throw new NoServersError(
        servers.length > 0
          ? `none of the ${servers.length} storage server(s) the grid lists could be reached`
          : this.#uncertified > 0
            ? `none of the ${this.#uncertified} storage server(s) the grid lists holds a live certificate from the grid manager this client trusts`
            : 'the grid lists no storage servers',
      );
    }
    return conns;
  }

  /** Connection state and a round-trip time per listed server. */
  async probe(): Promise<ServerStatus[]> {
    // What the relay says now: a server it no longer lists is shown as such.
    const servers = await this.servers({ fresh: true });
    return Promise.all(
      servers.map(async (s): Promise<ServerStatus> => {
        const base = { id: s.serverId, nickname: s.nickname, availableSpace: s.availableSpace };
        const conn = await this.#connect(s);
        if (!conn || conn.isClosed) {
          const why = this.#failures.get(s.serverId);
          return {
            ...base,
            connected: false,
            rttMs: null,
            refusing: REFUSALS.has(String(codeOf(why))),
            problem: why instanceof Error ? why.message : 'the connection closed',
          };
        }
        const t0 = performance.now();
        try {
          const v = await conn.getVersion();
          return {
            ...base,
            availableSpace: v.availableSpace,
            connected: true,
            rttMs: performance.now() - t0,
          };
        } catch (err) {
          // An answer that is an error is a refusal; a connection that died on the way is not.
          const code = String(codeOf(err));
          return {
            ...base,
            connected: false,
            rttMs: null,
            refusing: code !== 'UNAVAILABLE' && code !== 'TIMEOUT',
            problem: err instanceof Error ? err.message : String(err),
          };
        }
      }),
    );
  }

  /** Closes every connection; later calls open new ones. */
  close(): void {
    for (const attempt of this.#conns.values()) void attempt.then((c) => c?.close());
    this.#conns.clear();
  }
}

function shuffled<T>(items: T[]): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Two lists of verified servers as one: every server of either, with the announcement of
 * the higher seq where both name it; `fresh`'s servers first (a list's order breaks ties
 * in boundServerList).
 */
export function mergeServerLists(fresh: readonly GridServer[], old: readonly GridServer[]): GridServer[] {
  const byId = new Map<ServerId, GridServer>();
  for (const s of [...fresh, ...old]) {
    const held = byId.get(s.serverId);
    if (!held || s.seq > held.seq) byId.set(s.serverId, s);
  }
  return [...byId.values()];
}
