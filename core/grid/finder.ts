/**
 * Who holds which share of a file: every server is asked at once, and answers are used as
 * they arrive, so a slow or dead server delays nothing once others have answered. How fast
 * each server answered is kept: until its reads have been timed, that is all the download
 * knows about its speed (ranking.ts; Tahoe's finder flags slow answers the same way).
 */
import type { StorageServerApi } from '../protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../types.ts';
import { permuteServers } from './permute.ts';
import { withTimeout } from './timeout.ts';

export interface Holding {
  server: StorageServerApi;
  /** Milliseconds from the query to the answer. */
  rttMs: number;
}

export class ShareFinder {
  readonly #holders = new Map<ShareNum, Holding[]>();
  readonly #rtt = new Map<StorageServerApi, number>();
  readonly #all: Promise<void>;
  #waiters: (() => void)[] = [];
  #outstanding: number;

  /** Starts asking `servers` (in permuted order) which shares of `si` they hold. */
  constructor(
    si: StorageIndex,
    servers: readonly StorageServerApi[],
    timeoutMs: number,
    now = () => Date.now(),
  ) {
    const permuted = permuteServers(si, servers);
    this.#outstanding = permuted.length;
    const started = now();
    this.#all = Promise.all(
      permuted.map(async (server) => {
        try {
          const shares = await withTimeout(server.listShares(si), timeoutMs, 'a storage server (list)');
          const rttMs = now() - started;
          this.#rtt.set(server, rttMs);
          for (const s of shares) {
            const list = this.#holders.get(s) ?? [];
            list.push({ server, rttMs });
            this.#holders.set(s, list);
          }
        } catch {
          // A server that cannot answer holds nothing usable for this download.
        } finally {
          this.#outstanding--;
          for (const w of this.#waiters.splice(0)) w();
        }
      }),
    ).then(() => {});
  }

  /** True once every server has answered or timed out. */
  get done(): boolean {
    return this.#outstanding === 0;
  }

  /** Share numbers found so far, the fastest-answering holder's first. */
  found(): ShareNum[] {
    return [...this.#holders.entries()].sort((a, b) => a[1][0].rttMs - b[1][0].rttMs).map(([s]) => s);
  }

  /** Holders of `shnum` known so far, fastest first (answers arrive in time order). */
  holders(shnum: ShareNum): readonly Holding[] {
    return this.#holders.get(shnum) ?? [];
  }

  /** Servers that have answered (holding shares or not), in answer order. */
  servers(): StorageServerApi[] {
    return [...this.#rtt.keys()];
  }

  /** Milliseconds `server` took to answer; undefined while it has not (or could not). */
  rttOf(server: StorageServerApi): number | undefined {
    return this.#rtt.get(server);
  }

  /** Resolves once `predicate` holds or every server has answered. */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate() && !this.done) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Resolves when every server has answered or timed out. */
  settled(): Promise<void> {
    return this.#all;
  }
}
