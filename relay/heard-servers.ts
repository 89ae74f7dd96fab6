/**
 * Servers the relay hears of without a link. A server started with `--peer` only (Tahoe
 * #3457: no single point of discovery) gossips with the other servers but never links to
 * the relay, so a client that asks the relay would not find it. The relay therefore pulls,
 * now and then, one of its linked servers' lists (GET /v1/servers, which every server serves
 * from its gossip) and keeps the announcements of servers not linked here in a book of their
 * own, judged by the same rules as everywhere (expiry, seq above any seen, signature; forged
 * and replayed ones are refused). It never pushes, and takes no pushes: it only asks the
 * servers that linked to it.
 *
 * Such a server is listed with its own URL; the relay cannot forward to it (no link), so a
 * client reaches it directly or not at all.
 */
import type { SignedAnnouncement } from '../core/protocol/announcement.ts';
import { decodeAnnouncement } from '../core/protocol/announcement.ts';
import { ProtocolError } from '../core/protocol/errors.ts';
import { gridOrigin, parseServerList } from '../core/protocol/grid.ts';
import { MAX_GRID_SERVERS } from '../core/protocol/limits.ts';
import type { ServerId } from '../core/types.ts';
import { AnnouncementBook } from './announcement-book.ts';
import { ThrottledLog } from './log-throttle.ts';
import { PeerRequests } from './peer-requests.ts';
import { type BucketSpec, TokenBucket } from './rate-limit.ts';

export interface HeardLimits {
  /** How often one linked server's list is pulled. */
  intervalMs: number;
  /** After a server links, its list is pulled this soon (once per such delay at most). */
  joinDelayMs: number;
  requestTimeoutMs: number;
  /** Signature checks of heard announcements, together. */
  checks: BucketSpec;
  /** Servers heard of at once (beside the linked ones). */
  maxServers: number;
}

export interface HeardOptions {
  limits: HeardLimits;
  /** HTTP(S) or WS(S) URLs of the servers linked now (pulled from). */
  sources: () => Array<string | null>;
  /** True for a server linked to this relay: its link speaks for it, gossip does not. */
  isLinked: (id: ServerId) => boolean;
  now?: () => number;
  log?: (line: string) => void;
}

export class HeardServers {
  readonly book: AnnouncementBook;
  private readonly checks: TokenBucket;
  private readonly requests: PeerRequests;
  private readonly peerLog: ThrottledLog;
  private readonly refusalLog: ThrottledLog;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private soon: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(private readonly opts: HeardOptions) {
    const now = opts.now ?? Date.now;
    const log = opts.log ?? (() => {});
    this.book = new AnnouncementBook({ now, maxServers: opts.limits.maxServers });
    this.checks = new TokenBucket(opts.limits.checks, now);
    this.peerLog = new ThrottledLog((l) => log(`hearing of servers: ${l}`), 60_000);
    this.refusalLog = new ThrottledLog((l) => log(`refused a heard announcement: ${l}`));
    this.requests = new PeerRequests(opts.limits.requestTimeoutMs, this.peerLog);
    this.timer = setInterval(() => void this.pullOne(), opts.limits.intervalMs);
    this.timer.unref();
    this.sweeper = setInterval(() => this.book.expire(), 30_000);
    this.sweeper.unref();
  }

  /** A server linked: pull a list soon (servers that link together cost one pull). */
  linked(): void {
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.pullOne();
    }, this.opts.limits.joinDelayMs);
    this.soon.unref();
  }

  /** Pulls the list of one linked server, chosen at random. */
  async pullOne(): Promise<void> {
    const origins = new Set<string>();
    for (const url of this.opts.sources()) {
      if (!url) continue;
      try {
        origins.add(gridOrigin(url));
      } catch {
        // An announced URL that does not parse: nothing to ask.
      }
    }
    const all = [...origins];
    if (all.length === 0) return;
    const origin = all[Math.floor(Math.random() * all.length)];
    const bytes = await this.requests.request(`${origin}/v1/servers`, { method: 'GET' });
    if (bytes === null) return;
    try {
      this.take(parseServerList(bytes, MAX_GRID_SERVERS));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.peerLog.note(`${new URL(origin).host} sent an unreadable server list: ${err.message}`);
    }
  }

  /** Judges a pulled list: linked servers and what is held already are passed over. */
  take(list: Array<SignedAnnouncement | null>): number {
    let taken = 0;
    for (const signed of list) {
      if (signed === null) continue;
      let id: ServerId;
      try {
        id = decodeAnnouncement(signed).serverId;
      } catch (err) {
        if (err instanceof ProtocolError) this.refusalLog.note(err.message);
        continue;
      }
      if (this.opts.isLinked(id) || this.book.holds(signed) || this.book.holdsNewer(signed)) continue;
      if (!this.checks.take()) break;
      try {
        this.book.offer(signed);
        taken++;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.refusalLog.note(err.message);
      }
    }
    return taken;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    clearTimeout(this.soon);
    this.requests.stop();
    this.peerLog.flush();
    this.refusalLog.flush();
  }
}
