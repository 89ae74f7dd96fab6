/**
 * Pushes the encoder's share writes to the chosen servers, in parallel, with back-pressure:
 * each server has a budget of bytes in flight, and `write` waits while the slowest holder of
 * that share is over it. So memory stays at (budget × servers) however large the file, and a
 * slow server slows the upload instead of filling memory.
 *
 * A server that fails or stalls is dropped with all its buckets, and happiness is computed
 * again over what is left (Tahoe's `_remove_shareholder`): the upload goes on while it is still
 * >= happy and fails with UploadUnhappinessError otherwise.
 *
 * Bytes a server already holds of a bucket (an upload being resumed: Shareholders.have) are
 * not sent to it again; `sentBytes` and `skippedBytes` keep the tally.
 */
import { MAX_WRITE_BYTES } from '../protocol/limits.ts';
import { missing, type Range } from '../protocol/ranges.ts';
import { StorageError, type StorageServerApi } from '../protocol/storage-api.ts';
import type { ServerId, ShareNum, StorageIndex } from '../types.ts';
import { UploadUnhappinessError } from './errors.ts';
import { addShares, happinessOf } from './happiness.ts';
import type { Shareholders } from './select.ts';
import { withTimeout } from './timeout.ts';

export interface ShareWriterOptions {
  si: StorageIndex;
  k: number;
  happy: number;
  n: number;
  shareholders: Shareholders;
  uploadSecretFor(serverId: ServerId): Uint8Array;
  /** Bytes one server may have in flight before `write` waits (default 1 MiB). */
  maxInFlightBytes?: number;
  /**
   * Contiguous writes to one share are joined up to this many bytes before they are sent:
   * fewer, larger frames for the same bytes. Default: a quarter of the share, at least
   * 256 KiB and at most 1 MiB (the largest write one frame takes), so that a share goes out
   * in several requests (progress moves, and an upload that fails part way resumes from
   * what was answered) and a large one in the largest. Against 256 KiB throughout, a CLI put
   * of 256 MiB into a local grid took 4.5 CPU s of the client against 5.5 and 7.2-7.5 of the
   * servers and relay against 10.2-10.9, and a tab's 1 GiB upload 66 Chromium CPU s against
   * 83 and 37 of the grid against 60, with no more memory (bench/README, 2026-12-06): a
   * quarter of the requests, each framed, sent, stored and answered once.
   */
  coalesceBytes?: number;
  /** The default batch's upper bound (default and at most MAX_WRITE_BYTES, 1 MiB). */
  maxCoalesceBytes?: number;
  /**
   * Bytes of each share, when known: a batch buffer is never larger than what is left of
   * the share (a 12 KB share does not take a 1 MiB buffer per server).
   */
  shareSize?: number;
  /** A write or close that takes longer counts as a failure of that server (default 60 s). */
  callTimeoutMs?: number;
  /** Called once per server dropped, with the reason (for logs: no secrets in it). */
  onServerLost?(serverId: ServerId, reason: unknown): void;
}

/** The smallest default batch (ShareWriterOptions.coalesceBytes). */
export const MIN_BATCH = 256 * 1024;

/**
 * Batch buffers kept for reuse at most: more than a put has free at once at the default
 * budget and size (a batch filling and one in flight per server).
 */
const MAX_SPARE = 48;

/** Writes to one share waiting to be joined into one request, copied into `bytes`. */
interface Batch {
  offset: number;
  bytes: Uint8Array;
  length: number;
}

interface Holder {
  api: StorageServerApi;
  shares: Set<ShareNum>;
  /** Byte ranges the server holds already, per share: not sent again. */
  have: Map<ShareNum, Range[]>;
  batches: Map<ShareNum, Batch>;
  inFlight: number;
  alive: boolean;
  waiters: (() => void)[];
  pending: Set<Promise<void>>;
  /** Shares closed by the request that wrote them (writeShareAndClose). */
  closed: Set<ShareNum>;
}

export class ShareWriter {
  readonly #o: ShareWriterOptions;
  readonly #holders: Holder[];
  readonly #byShare = new Map<ShareNum, Holder[]>();
  readonly #budget: number;
  readonly #timeout: number;
  readonly #coalesce: number;
  #acked = 0;
  #sent = 0;
  #skipped = 0;
  readonly #spare: Uint8Array[] = [];
  #failure: Error | undefined;
  #closed = false;

  constructor(options: ShareWriterOptions) {
    this.#o = options;
    this.#budget = options.maxInFlightBytes ?? 1024 * 1024;
    this.#timeout = options.callTimeoutMs ?? 60_000;
    this.#coalesce =
      options.coalesceBytes ??
      (options.shareSize === undefined
        ? MAX_WRITE_BYTES
        : Math.min(
            MAX_WRITE_BYTES,
            options.maxCoalesceBytes ?? MAX_WRITE_BYTES,
            Math.max(MIN_BATCH, Math.ceil(options.shareSize / 4)),
          ));
    this.#holders = [...options.shareholders.buckets].map(([api, shares]) => ({
      api,
      shares: new Set(shares),
      have: options.shareholders.have.get(api.serverId) ?? new Map(),
      batches: new Map(),
      inFlight: 0,
      alive: true,
      waiters: [],
      pending: new Set(),
      closed: new Set(),
    }));
    for (const h of this.#holders) {
      for (const s of h.shares) this.#byShare.set(s, [...(this.#byShare.get(s) ?? []), h]);
    }
  }

  /** Current servers-of-happiness over shares already held plus live buckets. */
  get happiness(): number {
    const graph = new Map<ServerId, Set<ShareNum>>();
    for (const [id, shares] of this.#o.shareholders.held) addShares(graph, id, shares);
    for (const h of this.#holders) if (h.alive) addShares(graph, h.api.serverId, h.shares);
    return happinessOf(graph);
  }

  /** The buckets of servers still alive: server -> shares (sorted). */
  liveBuckets(): Map<ServerId, ShareNum[]> {
    const out = new Map<ServerId, ShareNum[]>();
    for (const h of this.#holders) {
      if (h.alive)
        out.set(
          h.api.serverId,
          [...h.shares].sort((a, b) => a - b),
        );
    }
    return out;
  }

  /** Bytes the servers have acknowledged or held already (for progress). */
  get ackedBytes(): number {
    return this.#acked;
  }

  /** Share bytes handed to the servers so far. */
  get sentBytes(): number {
    return this.#sent;
  }

  /** Share bytes not sent because the server already held them. */
  get skippedBytes(): number {
    return this.#skipped;
  }

  /**
   * Queues `data` for share `shnum` at `offset`; resolves once every live holder of the share
   * has room for it (not when the server has stored it). `data` is copied before this resolves
   * (into the request, or into the batch it joins): the caller may reuse its memory then.
   * Rejects with UploadUnhappinessError once too many servers are lost.
   */
  async write(shnum: ShareNum, offset: number, data: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    for (const h of this.#byShare.get(shnum) ?? []) {
      if (!h.alive) continue;
      const held = h.have.get(shnum);
      if (!held) {
        await this.#queue(h, shnum, offset, data);
        continue;
      }
      let sent = 0;
      for (const [s, e] of missing(held, offset, offset + data.length)) {
        await this.#queue(h, shnum, s, data.subarray(s - offset, e - offset));
        sent += e - s;
      }
      this.#skipped += data.length - sent;
      this.#acked += data.length - sent;
    }
  }

  /** Joins `data` to the share's batch for `h`, or sends the batch and starts another. */
  async #queue(h: Holder, shnum: ShareNum, offset: number, data: Uint8Array): Promise<void> {
    // A write larger than a batch goes in batch-sized pieces, through the reused buffers: a
    // share's trailer (its hash trees, ~1.5 MiB a share at 1 GiB) took fresh memory the
    // size of the write per holder, and went as one oversized request, at the upload's end.
    const b = h.batches.get(shnum);
    if (data.length > this.#coalesce) {
      // The first piece tops up the batch under way, when the write continues it.
      let at = b && b.offset + b.length === offset ? b.bytes.length - b.length : 0;
      if (at > 0) await this.#queue(h, shnum, offset, data.subarray(0, at));
      for (; at < data.length && h.alive; at += this.#coalesce) {
        await this.#queue(h, shnum, offset + at, data.subarray(at, at + this.#coalesce));
      }
      return;
    }
    if (b && b.offset + b.length === offset && b.length + data.length <= b.bytes.length) {
      b.bytes.set(data, b.length);
      b.length += data.length;
      return;
    }
    if (b) await this.#send(h, shnum, b);
    if (!h.alive) return;
    // One copy per holder: each batch is framed (and so done with) at its own pace.
    const rest = Math.max(data.length, (this.#o.shareSize ?? Number.POSITIVE_INFINITY) - offset);
    const next = {
      offset,
      bytes:
        rest < this.#coalesce ? new Uint8Array(rest) : (this.#spare.pop() ?? new Uint8Array(this.#coalesce)),
      length: data.length,
    };
    next.bytes.set(data);
    if (data.length >= this.#coalesce) await this.#send(h, shnum, next);
    else h.batches.set(shnum, next);
  }

  /**
   * Sends one batch once the holder has room for it; with `close`, the share is closed by
   * the same request (the batch holds the whole share).
   */
  async #send(h: Holder, shnum: ShareNum, b: Batch, close = false): Promise<void> {
    if (h.batches.get(shnum) === b) h.batches.delete(shnum);
    while (h.alive && h.inFlight > 0 && h.inFlight + b.length > this.#budget) {
      await new Promise<void>((resolve) => h.waiters.push(resolve));
      this.#throwIfFailed();
    }
    this.#throwIfFailed();
    if (!h.alive) return;
    const data = b.bytes.subarray(0, b.length);
    // Only the length is kept past the call: the bytes can go as soon as they are framed.
    const length = data.length;
    h.inFlight += length;
    this.#sent += length;
    const secret = this.#o.uploadSecretFor(h.api.serverId);
    const p = withTimeout(
      close && h.api.writeShareAndClose
        ? h.api.writeShareAndClose(this.#o.si, shnum, secret, b.offset, data)
        : h.api.writeShare(this.#o.si, shnum, secret, b.offset, data),
      this.#timeout,
      close ? 'a storage server (write and close)' : 'a storage server (write)',
    ).then(
      () => {
        if (close) h.closed.add(shnum);
        h.inFlight -= length;
        this.#acked += length;
        if (!h.api.readsWritesAtOnce) this.#reuse(b.bytes);
        this.#wake(h);
      },
      (err) => this.#lose(h, err),
    );
    // Read already (framed): the batch buffer can take the next batch now, rather than
    // wait for the answer while what it held is in the socket's copy.
    if (h.api.readsWritesAtOnce) this.#reuse(b.bytes);
    h.pending.add(p);
    void p.finally(() => h.pending.delete(p));
  }

  /**
   * Keeps a batch buffer done with for a later batch: fresh batch buffers cost page faults
   * and pile up as garbage (in Chromium that was a tenth of the upload worker's time).
   */
  #reuse(bytes: Uint8Array): void {
    if (bytes.length === this.#coalesce && this.#spare.length < MAX_SPARE) this.#spare.push(bytes);
  }

  /** Waits for every write, closes every live bucket, and checks happiness a last time. */
  async close(): Promise<{ happiness: number }> {
    if (this.#closed) throw new Error('ShareWriter.close called twice');
    this.#closed = true;
    // A share that is one batch, never sent before, goes with its close: one request a share
    // instead of two (a small file's every share).
    const whole = (h: Holder, shnum: ShareNum, b: Batch) =>
      h.api.writeShareAndClose !== undefined &&
      b.offset === 0 &&
      b.length === this.#o.shareSize &&
      !h.have.has(shnum);
    await Promise.all(
      this.#holders.flatMap((h) =>
        [...h.batches].map(([shnum, b]) => this.#send(h, shnum, b, whole(h, shnum, b))),
      ),
    );
    await Promise.all(this.#holders.flatMap((h) => [...h.pending]));
    this.#throwIfFailed();
    await Promise.all(
      this.#holders
        .filter((h) => h.alive)
        .map(async (h) => {
          try {
            const secret = this.#o.uploadSecretFor(h.api.serverId);
            for (const s of h.shares) {
              if (h.closed.has(s)) continue;
              try {
                await withTimeout(
                  h.api.closeShare(this.#o.si, s, secret),
                  this.#timeout,
                  'a storage server (close)',
                );
              } catch (err) {
                // The same upload from another run of this client (same secret) may have closed
                // it first: the share is there, and that is all this upload needs.
                if (!(err instanceof StorageError && err.code === 'NOT_FOUND')) throw err;
                const there = await withTimeout(
                  h.api.listShares(this.#o.si),
                  this.#timeout,
                  'a storage server',
                );
                if (!there.includes(s)) throw err;
              }
            }
          } catch (err) {
            this.#lose(h, err);
          }
        }),
    );
    this.#throwIfFailed();
    return { happiness: this.happiness };
  }

  /** Waits for the writes in flight to settle (a failed upload leaves its buckets to be resumed). */
  async settle(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#holders.flatMap((h) => [...h.pending]));
  }

  /** Gives back every bucket still open (best effort; for a cancelled upload). */
  async abort(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#holders.flatMap((h) => [...h.pending]));
    await Promise.allSettled(
      this.#holders.flatMap((h) =>
        [...h.shares].map((s) => h.api.abortShare(this.#o.si, s, this.#o.uploadSecretFor(h.api.serverId))),
      ),
    );
  }

  #wake(h: Holder): void {
    const waiters = h.waiters.splice(0);
    for (const w of waiters) w();
  }

  #lose(h: Holder, reason: unknown): void {
    if (!h.alive) return;
    h.alive = false;
    h.inFlight = 0;
    h.batches.clear();
    if (reason instanceof StorageError && reason.code === 'CONFLICT') {
      // The server holds other bytes for these buckets (an earlier try of something else under
      // this secret): give them back, so running the upload again starts them afresh.
      const secret = this.#o.uploadSecretFor(h.api.serverId);
      for (const s of h.shares) void h.api.abortShare(this.#o.si, s, secret).catch(() => {});
    }
    this.#o.onServerLost?.(h.api.serverId, reason);
    const happiness = this.happiness;
    if (happiness < this.#o.happy && !this.#failure) {
      const alive = this.#holders.filter((x) => x.alive);
      const placed = new Set<ShareNum>();
      for (const x of alive) for (const s of x.shares) placed.add(s);
      for (const shares of this.#o.shareholders.held.values()) for (const s of shares) placed.add(s);
      const withShares = new Set([...alive.map((x) => x.api.serverId), ...this.#o.shareholders.held.keys()]);
      this.#failure = new UploadUnhappinessError(
        {
          serversFound: this.#o.shareholders.serversFound,
          serversWithShares: withShares.size,
          sharesPlaced: placed.size,
          happiness,
          k: this.#o.k,
          happy: this.#o.happy,
          n: this.#o.n,
        },
        { cause: reason },
      );
      for (const x of this.#holders) this.#wake(x);
    }
    this.#wake(h);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}
