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
import type { ServerId } from '../types.ts';
import type { ServerListCache } from './server-list-cache.ts';

export interface GridOptions {
  /**
   * The relay's URL (http(s):// or ws(s)://); null when none is known, which is fine for
   * literal caps: only a call that needs servers fails, with `noGrid()`'s error.
   */
  url: string | null;
  noGrid?(): Error;
  cache?: ServerListCache;
  /** How long a fetched list is used before asking the relay again (default 5 s). */
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
  }

  /** The servers the relay lists, fresh within listMaxAgeMs, else the cached list. */
  servers(): Promise<GridServer[]> {
    if (this.#list && Date.now() - this.#list.at <= this.#maxAge) return Promise.resolve(this.#list.servers);
    this.#listing ??= this.#fetchList().finally(() => {
      this.#listing = null;
    });
    return this.#listing;
  }

  async #fetchList(): Promise<GridServer[]> {
    const url = this.url;
    if (url === null) throw this.#noGrid();
    let servers: GridServer[];
    try {
      servers = await fetchGridServers(url, { timeoutMs: this.#listTimeout });
      await this.#cache
        ?.save(url, encodeServerList(servers.map((s) => s.signed)))
        .catch((err) => this.#warn(`could not cache the server list: ${(err as Error).message}`));
    } catch (err) {
      const cached = await this.#cache?.load(url).catch(() => null);
      if (!cached) throw err;
      // Signatures are checked again; expired entries are kept: old news beats none.
      servers = decodeServerList(cached, Date.now(), true);
      this.#warn(`${(err as Error).message}; using the ${servers.length} server(s) it listed last time`);
    }
    servers = boundServerList(servers, this.#maxServers);
    this.#list = { at: Date.now(), servers };
    return servers;
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
        servers.length === 0
          ? 'the grid lists no storage servers'
          : `none of the ${servers.length} storage server(s) the grid lists could be reached`,
      );
    }
    return conns;
  }

  /** Connection state and a round-trip time per listed server. */
  async probe(): Promise<ServerStatus[]> {
    const servers = await this.servers();
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
