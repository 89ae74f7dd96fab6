/**
 * The decoder's ShareReader over the network. Each share is read from the fastest server
 * that holds it; a server that errors or stalls is dropped and the next holder of the same
 * share takes over. Sequential reads (the blocks of successive segments) are read ahead in
 * growing windows, so the next segment's blocks are already on their way while this one is
 * decoded; memory stays at a few windows per share in use.
 */
import type { ShareCorruptError, ShareUnavailableError } from '../immutable/errors.ts';
import type { ShareReader } from '../immutable/decoder.ts';
import { MAX_READ_BYTES } from '../protocol/limits.ts';
import { StorageError, type StorageServerApi } from '../protocol/storage-api.ts';
import { asShareNum, type ShareNum, type StorageIndex } from '../types.ts';
import type { ShareFinder } from './finder.ts';
import { withTimeout } from './timeout.ts';

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
  }

  async read(shnum: number, offset: number, length: number): Promise<Uint8Array> {
    const sh = asShareNum(shnum);
    let state = this.#shares.get(sh);
    if (!state) {
      state = { windows: [], lastEnd: -1, windowSize: 0, lastServer: undefined };
      this.#shares.set(sh, state);
    }
    const sequential = offset === state.lastEnd;
    state.lastEnd = offset + length;
    // Windows are whole multiples of the read length, so that sequential reads of equal
    // size (a share's blocks) never straddle two windows: a read no window holds starts a
    // fresh window and drops the read-ahead already in flight.
    const grown = Math.max(2 * length, 2 * state.windowSize);
    state.windowSize =
      sequential && length > 0 && length <= this.#maxWindow
        ? Math.floor(Math.min(this.#maxWindow, grown) / length) * length
        : length;
    // Windows wholly behind this read will not be wanted again.
    state.windows = state.windows.filter((w) => w.offset + w.length > offset);

    for (;;) {
      let w = state.windows.find((x) => x.offset <= offset && offset + length <= x.offset + x.length);
      if (!w) {
        const server = await this.#holder(sh);
        w = this.#fetch(sh, server, offset, Math.max(length, state.windowSize));
        state.windows = [w];
      }
      try {
        const bytes = await w.bytes;
        state.lastServer = w.server;
        if (sequential && bytes.length === w.length) this.#readAhead(sh, state, w);
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

  /** Starts the next window once this one is in use, so the network runs ahead of decoding. */
  #readAhead(sh: ShareNum, state: ShareState, current: Window): void {
    let end = current.offset + current.length;
    for (let i = 0; i < this.#ahead; i++) {
      const next = state.windows.find((x) => x.offset === end);
      if (next) {
        end = next.offset + next.length;
        continue;
      }
      state.windows.push(this.#fetch(sh, current.server, end, state.windowSize));
      end += state.windowSize;
    }
  }

  #fetch(sh: ShareNum, server: StorageServerApi, offset: number, length: number): Window {
    const bytes = withTimeout(
      server.readShare(this.#si, sh, offset, length),
      this.#timeout,
      'a storage server (read)',
    );
    bytes.catch(() => {}); // read-ahead may be dropped unread; its failure is seen when used
    return { offset, length, server, bytes };
  }

  /** The fastest live holder of a share, waiting for the finder if none is known yet. */
  async #holder(sh: ShareNum): Promise<StorageServerApi> {
    const live = () => this.#finder.holders(sh).find((h) => !this.#bad.has(h.server));
    await this.#finder.until(() => live() !== undefined);
    const h = live();
    if (!h) throw new StorageError('NOT_FOUND', `no reachable server holds share ${sh}`);
    return h.server;
  }
}
