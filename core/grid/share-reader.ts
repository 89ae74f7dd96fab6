/**
 * The decoder's ShareReader over the network. It times every read per server and tells the
 * decoder which k shares to use (ranking.ts: the fastest holders, primary shares among
 * comparable ones, away from a server whose reads prove clearly slow). Each share is read
 * from its fastest live holder; a server that errors or stalls is dropped and the next
 * holder of the same share takes over. Sequential reads (the blocks of successive segments)
 * are read ahead in growing windows, so the next segment's blocks are already on their way
 * while this one is decoded; memory stays at a few windows per share in use, and a share
 * the decoder stops using drops its windows.
 */
import type { ShareCorruptError, ShareUnavailableError } from '../immutable/errors.ts';
import type { ShareReader } from '../immutable/decoder.ts';
import { MAX_READ_BYTES } from '../protocol/limits.ts';
import { StorageError, type StorageServerApi } from '../protocol/storage-api.ts';
import { asShareNum, type ShareNum, type StorageIndex } from '../types.ts';
import type { ShareFinder } from './finder.ts';
import {
  chooseShares,
  DEFAULT_RANKING,
  pickHolder,
  type RankingOptions,
  ReadMeter,
  type Reference,
  reference,
  type Speed,
} from './ranking.ts';
import { withTimeout } from './timeout.ts';

/** One read answered by a server (for progress detail and tests: who served what). */
export interface ReadEvent {
  readonly serverId: string;
  readonly shnum: number;
  readonly offset: number;
  readonly bytes: number;
  readonly ms: number;
}

export interface NetworkShareReaderOptions {
  /** A read taking longer counts as that server stalling (default 30 s). */
  readTimeoutMs?: number;
  /**
   * Largest read-ahead window, bytes (default 512 KiB). Two 512 KiB windows ahead measured as
   * fast as two 1 MiB ones on 127.0.0.1 with a third less client CPU (bench:grid).
   */
  maxWindowBytes?: number;
  /** Windows fetched ahead of the one in use (default 2). */
  windowsAhead?: number;
  /** When a server counts as clearly slower (ranking.ts). */
  ranking?: Partial<RankingOptions>;
  /** Told about every read a server answered. */
  onRead?(e: ReadEvent): void;
  /** Told when the decoder is steered off a share in use onto another (a slow holder). */
  onSwitch?(from: number, to: number): void;
  /** Milliseconds clock for read timing (default performance.now). */
  now?(): number;
}

interface Window {
  offset: number;
  length: number;
  server: StorageServerApi;
  bytes: Promise<Uint8Array>;
}

interface ShareState {
  windows: Window[];
  /** Where the previous read ended, to spot sequential reading. */
  lastEnd: number;
  windowSize: number;
  /** The server the last bytes came from (the one to tell if they prove corrupt). */
  lastServer: StorageServerApi | undefined;
  /** Not among the shares the decoder was last told to use: read exactly, no read-ahead. */
  idle: boolean;
}

export class NetworkShareReader implements ShareReader {
  readonly shnums: readonly number[];
  readonly #si: StorageIndex;
  readonly #finder: ShareFinder;
  readonly #timeout: number;
  readonly #maxWindow: number;
  readonly #ahead: number;
  readonly #bad = new Set<StorageServerApi>();
  readonly #shares = new Map<ShareNum, ShareState>();
  readonly #meters = new Map<StorageServerApi, ReadMeter>();
  readonly #ranking: RankingOptions;
  readonly #now: () => number;
  readonly #onRead: ((e: ReadEvent) => void) | undefined;
  readonly #onSwitch: ((from: number, to: number) => void) | undefined;
  /** The k shares the decoder was last told to use. */
  #inUse: number[] = [];

  constructor(
    si: StorageIndex,
    finder: ShareFinder,
    shnums: readonly number[],
    opts: NetworkShareReaderOptions = {},
  ) {
    this.#si = si;
    this.#finder = finder;
    this.shnums = shnums;
    this.#timeout = opts.readTimeoutMs ?? 30_000;
    this.#maxWindow = Math.min(opts.maxWindowBytes ?? MAX_READ_BYTES / 2, MAX_READ_BYTES);
    this.#ahead = Math.max(1, opts.windowsAhead ?? 2);
    this.#ranking = { ...DEFAULT_RANKING, ...opts.ranking };
    this.#now = opts.now ?? (() => performance.now());
    this.#onRead = opts.onRead;
    this.#onSwitch = opts.onSwitch;
  }

  /**
   * The decoder's next shares, best first (ranking.ts). Shares that leave the first k drop
   * their read-ahead: reads already asked for still complete, later ones are read exactly.
   */
  rank(candidates: readonly number[], k: number): number[] {
    const ref = this.#reference();
    const options = candidates.map((shnum) => {
      const server = this.#pick(asShareNum(shnum), ref);
      return server ? { shnum, server: server.serverId as string, speed: this.#speed(server) } : { shnum };
    });
    const order = chooseShares(options, k, this.#inUse, this.#ranking);
    const next = order.slice(0, k);
    const left = this.#inUse.filter((s) => !next.includes(s) && candidates.includes(s));
    const joined = next.filter((s) => !this.#inUse.includes(s));
    if (this.#inUse.length > 0) {
      for (const [i, s] of left.entries()) this.#onSwitch?.(s, joined[i] ?? -1);
    }
    for (const s of left) {
      const state = this.#shares.get(asShareNum(s));
      if (state) {
        state.idle = true;
        state.windows = [];
      }
    }
    for (const s of joined) {
      const state = this.#shares.get(asShareNum(s));
      if (state) state.idle = false;
    }
    this.#inUse = next;
    return order;
  }

  async read(shnum: number, offset: number, length: number): Promise<Uint8Array> {
    const sh = asShareNum(shnum);
    let state = this.#shares.get(sh);
    if (!state) {
      state = { windows: [], lastEnd: -1, windowSize: 0, lastServer: undefined, idle: false };
      this.#shares.set(sh, state);
    }
    const sequential = offset === state.lastEnd && !state.idle;
    state.lastEnd = offset + length;
    // Windows are whole multiples of the read length, so that sequential reads of equal
    // size (a share's blocks) never straddle two windows: a read no window holds starts a
    // window of its own, after the others when it follows on from them, else alone (a
    // seek drops the read-ahead already in flight).
    const grown = Math.max(2 * length, 2 * state.windowSize);
    state.windowSize =
      sequential && length > 0 && length <= this.#maxWindow
        ? Math.floor(Math.min(this.#maxWindow, grown) / length) * length
        : length;
    // This read's own window size: later reads grow the share's while this one waits below.
    const size = Math.max(length, state.windowSize);
    // Windows wholly behind this read will not be wanted again.
    state.windows = state.windows.filter((w) => w.offset + w.length > offset);

    for (;;) {
      let w = this.#holding(state, offset, length);
      if (!w) {
        const server = await this.#holder(sh, state.lastServer);
        // Another read may have started a window holding these bytes meanwhile.
        w = this.#holding(state, offset, length);
        if (!w) {
          w = this.#fetch(sh, server, offset, size);
          // A sequential read beyond the windows (the decoder has several segments in flight,
          // ahead of the read-ahead, which starts once a window's bytes are in) extends them:
          // dropping them would read the same bytes again for the reads already waiting.
          state.windows = sequential ? [...state.windows, w] : [w];
        }
      }
      try {
        const bytes = await w.bytes;
        state.lastServer = w.server;
        // Not for a share the decoder was steered off while this read was on its way.
        if (sequential && !state.idle && bytes.length === w.length) this.#readAhead(sh, state, w);
        const from = offset - w.offset;
        return bytes.subarray(Math.min(from, bytes.length), Math.min(from + length, bytes.length));
      } catch {
        // That server failed or stalled: no further reads go to it; try the next holder.
        this.#bad.add(w.server);
        state.windows = state.windows.filter((x) => x.server !== w.server);
      }
    }
  }

  /**
   * The decoder gave up on a share. If its bytes were bad (not just unreachable), the server
   * that sent them is told, as Tahoe's downloader does, so its owner can look.
   */
  shareFailed(err: ShareCorruptError | ShareUnavailableError): void {
    const sh = asShareNum(err.shnum);
    const state = this.#shares.get(sh);
    this.#shares.delete(sh);
    if (err.code === 'SHARE_CORRUPT' && state?.lastServer) {
      state.lastServer.adviseCorruptShare('immutable', this.#si, sh, err.message).catch(() => {});
    }
  }

  /**
   * Starts the next windows once this one is in use, so the network runs ahead of decoding:
   * `windowsAhead` of them past this one, counting those already following on from it, and
   * from where they end, so that no byte is asked for twice however many reads this window
   * serves.
   */
  #readAhead(sh: ShareNum, state: ShareState, current: Window): void {
    // The windows that follow on from this one, each from where the last ends.
    let end = current.offset + current.length;
    let ahead = 0;
    for (let next = this.#holding(state, end, 1); next; next = this.#holding(state, end, 1)) {
      end = next.offset + next.length;
      ahead++;
    }
    // Each new window goes to the share's best holder now (usually the same one).
    const server = this.#pick(sh, this.#reference(), current.server) ?? current.server;
    for (; ahead < this.#ahead; ahead++) {
      state.windows.push(this.#fetch(sh, server, end, state.windowSize));
      end += state.windowSize;
    }
  }

  /** The window holding bytes [at, at + length), if any. */
  #holding(state: ShareState, at: number, length: number): Window | undefined {
    return state.windows.find((x) => x.offset <= at && at + length <= x.offset + x.length);
  }

  #fetch(sh: ShareNum, server: StorageServerApi, offset: number, length: number): Window {
    const started = this.#now();
    const bytes = withTimeout(
      server.readShare(this.#si, sh, offset, length),
      this.#timeout,
      'a storage server (read)',
    ).then((b) => {
      const now = this.#now();
      let meter = this.#meters.get(server);
      if (!meter) {
        meter = new ReadMeter();
        this.#meters.set(server, meter);
      }
      meter.finished(started, now, b.length);
      try {
        this.#onRead?.({ serverId: server.serverId, shnum: sh, offset, bytes: b.length, ms: now - started });
      } catch {
        // An observer's fault is not the server's: the bytes are good.
      }
      return b;
    });
    bytes.catch(() => {}); // read-ahead may be dropped unread; its failure is seen when used
    return { offset, length, server, bytes };
  }

  #speed(server: StorageServerApi): Speed {
    return { rttMs: this.#finder.rttOf(server), reads: this.#meters.get(server)?.reads ?? [] };
  }

  /** The fastest known server and answer: what "clearly slower" is measured against. */
  #reference(): Reference {
    return reference(
      this.#finder.servers().map((s) => this.#speed(s)),
      this.#ranking,
    );
  }

  /** The live holder to read `sh` from next (ranking.ts), or undefined while none is known. */
  #pick(sh: ShareNum, ref: Reference, current?: StorageServerApi): StorageServerApi | undefined {
    const live = this.#finder.holders(sh).filter((h) => !this.#bad.has(h.server));
    if (live.length <= 1) return live[0]?.server;
    const i = pickHolder(
      live.map((h) => ({ server: h.server.serverId as string, speed: this.#speed(h.server) })),
      ref,
      current?.serverId,
      this.#ranking,
    );
    return live[i].server;
  }

  /** The best live holder of a share, waiting for the finder if none is known yet. */
  async #holder(sh: ShareNum, current: StorageServerApi | undefined): Promise<StorageServerApi> {
    const live = () => this.#finder.holders(sh).some((h) => !this.#bad.has(h.server));
    await this.#finder.until(live);
    const server = this.#pick(sh, this.#reference(), current);
    if (!server) throw new StorageError('NOT_FOUND', `no reachable server holds share ${sh}`);
    return server;
  }
}
