/**
 * Discovery without a single point of failure (Tahoe ticket #3457): every server keeps the
 * signed announcements it knows (book.ts), serves them at GET /v1/servers exactly as the
 * relay does (so a client can bootstrap from any one server), and passes each new one on:
 *  - push: announcements new to this server wait `pushDelayMs`, then go together to
 *    `fanout` peers chosen at random (POST /v1/announce, the same CBOR list);
 *  - pull: every `intervalMs` this server signs a fresh announcement of itself and fetches
 *    one random peer's list, so anything a push missed arrives within a round or two.
 * Copies are recognised by their bytes and go no further; everything else is judged by the
 * relay's rules (forged, stale, replayed and surplus announcements are refused). Peers are
 * the servers known to have a URL, the bootstrap URLs (`cairn server --peer`) and the relay
 * (pulled from only: it learns of servers over their links).
 */
import type { Hono } from 'hono';
import type { HttpKit } from '../http-kit.ts';
import type WebSocket from 'ws';
import type { SignedAnnouncement } from '../../core/protocol/announcement.ts';
import { encodeCbor } from '../../core/protocol/cbor.ts';
import { ProtocolError } from '../../core/protocol/errors.ts';
import { encodeServerList, gridOrigin, parseServerList } from '../../core/protocol/grid.ts';
import { MAX_ANNOUNCEMENT_BYTES, MAX_GRID_SERVERS } from '../../core/protocol/limits.ts';
import type { ServerId } from '../../core/types.ts';
import { keepAlive } from '../../core/protocol/keepalive.ts';
import { DEFAULT_RELAY_LIMITS } from '../../relay/limits.ts';
import { ThrottledLog } from '../../relay/log-throttle.ts';
import { PeerRequests } from '../../relay/peer-requests.ts';
import { TokenBucket } from '../../relay/rate-limit.ts';
import { Subscribers } from '../../relay/subscribers.ts';
import type { SelfAnnouncer } from '../announcer.ts';
import { AnnouncementBook } from '../../relay/announcement-book.ts';
import { type GossipLimits, gossipLimits } from './limits.ts';

export interface GossipOptions {
  selfId: ServerId;
  announcer: SelfAnnouncer;
  /** Servers to join through (their HTTP origin or storage URL): pushed to and pulled from. */
  peers?: string[];
  /** The relay's URL, pulled from (it takes announcements over links only). */
  relayUrl?: string;
  limits?: Partial<GossipLimits>;
  now?: () => number;
  log?: (line: string) => void;
}

/** What a server answers a push: counts, and why each refused announcement was refused. */
export interface GossipReceipt {
  /** New to this server (new servers and renewals): passed on. */
  accepted: number;
  /** Copies of what it holds. */
  known: number;
  /** Refused, with the reason ({c: code, m: message}; the first 16 only). */
  refused: Array<{ c: string; m: string }>;
  refusedCount: number;
}

const MAX_REASONS = 16;
/** Extra pulls from the bootstrap peers and the relay after start (ms). */
const WARM_UP_MS = [2_000, 10_000];
/** Clients following the list at once (a relay takes more; a server has storage to serve). */
const MAX_SUBSCRIBERS = 256;

export class Gossip {
  readonly book: AnnouncementBook;
  readonly limits: GossipLimits;
  private readonly pending = new Map<ServerId, SignedAnnouncement>();
  private readonly requests: TokenBucket;
  private readonly checks: TokenBucket;
  private readonly peerLog: ThrottledLog;
  private readonly refusalLog: ThrottledLog;
  private readonly bootstrap: string[];
  private readonly relay: string | null;
  private pushTimer: ReturnType<typeof setTimeout> | undefined;
  private roundTimer: ReturnType<typeof setInterval> | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private readonly peers: PeerRequests;
  private readonly warmUp = new Set<ReturnType<typeof setTimeout>>();
  /** Clients following the list (WS /v1/subscribe), paced as the relay paces its own. */
  private readonly subscribers: Subscribers;
  private stopped = false;

  constructor(private readonly opts: GossipOptions) {
    this.limits = gossipLimits(opts.limits);
    const now = opts.now ?? Date.now;
    const log = opts.log ?? (() => {});
    this.book = new AnnouncementBook({ now });
    this.requests = new TokenBucket(this.limits.requests, now);
    this.checks = new TokenBucket(this.limits.checks, now);
    this.peerLog = new ThrottledLog((l) => log(`gossip: ${l}`), 60_000);
    this.peers = new PeerRequests(this.limits.requestTimeoutMs, this.peerLog);
    this.refusalLog = new ThrottledLog((l) => log(`gossip: refused an announcement: ${l}`));
    this.bootstrap = (opts.peers ?? []).map(gridOrigin);
    this.relay = opts.relayUrl ? gridOrigin(opts.relayUrl) : null;
    this.subscribers = new Subscribers({
      list: () => this.book.bytes(),
      intervalMs: DEFAULT_RELAY_LIMITS.pushIntervalMs,
      stallMs: DEFAULT_RELAY_LIMITS.subscriberStallMs,
      dropGraceMs: DEFAULT_RELAY_LIMITS.dropGraceMs,
    });
    this.book.onChange(() => this.subscribers.changed());
    this.book.onAccepted((signed, ann) => {
      this.pending.set(ann.serverId, signed);
      this.schedulePush();
    });
  }

  /**
   * Learns from the bootstrap peers and the relay, then announces itself; renews every
   * interval. Servers started together each find the others missing at their first pull,
   * so the first pulls are repeated soon after (WARM_UP_MS), not a whole interval later.
   */
  start(): void {
    const pullSources = () =>
      Promise.allSettled([...this.bootstrap, ...(this.relay ? [this.relay] : [])].map((o) => this.pull(o)));
    void (async () => {
      await pullSources();
      await this.renew();
    })();
    for (const ms of WARM_UP_MS) {
      const t = setTimeout(() => {
        this.warmUp.delete(t);
        void pullSources();
      }, ms);
      t.unref();
      this.warmUp.add(t);
    }
    this.roundTimer = setInterval(() => void this.round(), this.limits.intervalMs);
    this.roundTimer.unref();
    this.sweeper = setInterval(() => this.book.expire(), 30_000);
    this.sweeper.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.pushTimer);
    clearInterval(this.roundTimer);
    clearInterval(this.sweeper);
    for (const t of this.warmUp) clearTimeout(t);
    this.peers.stop();
    this.subscribers.close();
    this.peerLog.flush();
    this.refusalLog.flush();
  }

  /** GET /v1/servers, WS /v1/subscribe and POST /v1/announce on the server's HTTP port. */
  routes(app: Hono, { upgradeWebSocket, bodyLimit }: HttpKit): void {
    app.get('/v1/servers', (c) =>
      c.body(this.book.bytes() as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': 'application/cbor',
        'Cache-Control': 'no-store',
        // Public and signed (every reader checks each entry): any page may read it, so a
        // browser client can bootstrap from a server as well as from its relay.
        'Access-Control-Allow-Origin': '*',
      }),
    );
    app.get(
      '/v1/subscribe',
      async (c, next) => {
        if (this.subscribers.size >= MAX_SUBSCRIBERS) {
          return c.text('this server has as many list subscribers as it takes; use GET /v1/servers', 503);
        }
        await next();
      },
      upgradeWebSocket(() => ({
        onOpen: (_ev, ws) => {
          const raw = ws.raw as WebSocket;
          keepAlive(raw);
          this.subscribers.add(raw);
        },
        onClose: (_ev, ws) => {
          this.subscribers.delete(ws.raw as WebSocket);
        },
      })),
    );
    app.post(
      '/v1/announce',
      bodyLimit({
        maxSize: this.limits.maxBatch * (MAX_ANNOUNCEMENT_BYTES + 128) + 64,
        onError: (c) => c.text(`a push carries at most ${this.limits.maxBatch} announcements`, 413),
      }),
      async (c) => {
        if (!this.requests.take()) {
          return c.text('this server takes pushes slowly just now; retry shortly', 429, {
            'Retry-After': String(Math.ceil(this.requests.msUntilToken() / 1000)),
          });
        }
        let receipt: GossipReceipt;
        try {
          receipt = this.receive(new Uint8Array(await c.req.arrayBuffer()), this.limits.maxBatch);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          return c.text(`not a list of announcements: ${err.message}`, 400);
        }
        return c.body(encodeCbor({ t: 'announced', ...receipt }) as Uint8Array<ArrayBuffer>, 200, {
          'Content-Type': 'application/cbor',
        });
      },
    );
  }

  /**
   * Judges every announcement of a list (a push, or a peer's list `pulled`): copies are
   * counted, new ones taken (and passed on), the rest refused with the reason. Throws
   * ProtocolError for bytes that are not a list of at most `maxEntries`.
   */
  receive(bytes: Uint8Array, maxEntries: number, pulled = false): GossipReceipt {
    const receipt: GossipReceipt = { accepted: 0, known: 0, refused: [], refusedCount: 0 };
    const refuse = (c: string, m: string) => {
      receipt.refusedCount++;
      if (receipt.refused.length < MAX_REASONS) receipt.refused.push({ c, m });
      this.refusalLog.note(m);
    };
    for (const signed of parseServerList(bytes, maxEntries)) {
      if (signed === null) {
        refuse('BAD_ANNOUNCEMENT', 'an entry is not {body, sig}');
        continue;
      }
      // A pulled list may lag behind what this server holds: older copies there are no news
      // (and no attack on anyone: the list was asked for). A push of one is judged, and refused.
      if (this.book.holds(signed) || (pulled && this.book.holdsNewer(signed))) {
        receipt.known++;
        continue;
      }
      // The costly step (a signature check) is paced for everyone together.
      if (!this.checks.take()) {
        refuse('RATE_LIMITED', 'this server is taking in announcements slowly just now');
        continue;
      }
      try {
        this.book.offer(signed);
        receipt.accepted++;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        refuse(err.code, err.message);
      }
    }
    return receipt;
  }

  /** Signs a fresh announcement of this server and takes it (it is then pushed like any news). */
  async renew(): Promise<void> {
    let signed: SignedAnnouncement;
    try {
      signed = await this.opts.announcer.sign();
    } catch (err) {
      this.peerLog.note(`cannot describe this server: ${(err as Error).message}`);
      return;
    }
    try {
      this.book.offer(signed);
    } catch (err) {
      this.peerLog.note(`this server's own announcement was refused: ${(err as Error).message}`);
    }
  }

  /** One round: renew this server's announcement and pull one random peer's list. */
  private async round(): Promise<void> {
    await this.renew();
    const peer = pick([...this.peerOrigins(), ...(this.relay ? [this.relay] : [])], 1)[0];
    if (peer) await this.pull(peer);
  }

  /** Origins of the servers to push to: known servers with a URL (not this one) and the bootstrap peers. */
  private peerOrigins(): string[] {
    const out = new Set<string>(this.bootstrap);
    for (const a of this.book.announcements()) {
      if (a.url === null || a.serverId === this.opts.selfId) continue;
      try {
        out.add(gridOrigin(a.url));
      } catch {
        // An announced URL the codec let through but URL() does not parse: not a peer.
      }
    }
    return [...out];
  }

  private schedulePush(): void {
    if (this.pushTimer || this.stopped) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      void this.push();
    }, this.limits.pushDelayMs);
    this.pushTimer.unref();
  }

  private async push(): Promise<void> {
    const batch = [...this.pending.entries()].slice(0, this.limits.maxBatch);
    for (const [id] of batch) this.pending.delete(id);
    if (this.pending.size > 0) this.schedulePush();
    if (batch.length === 0) return;
    const body = encodeServerList(batch.map(([, s]) => s));
    const peers = pick(this.peerOrigins(), this.limits.fanout);
    await Promise.allSettled(
      peers.map((origin) =>
        this.peers.request(`${origin}/v1/announce`, {
          method: 'POST',
          body: body as Uint8Array<ArrayBuffer>,
          headers: { 'Content-Type': 'application/cbor' },
        }),
      ),
    );
  }

  private async pull(origin: string): Promise<void> {
    const res = await this.peers.request(`${origin}/v1/servers`, { method: 'GET' });
    if (!res) return;
    try {
      this.receive(res, MAX_GRID_SERVERS, true);
    } catch (err) {
      this.peerLog.note(`${origin} sent an unreadable server list: ${(err as Error).message}`);
    }
  }
}

/** Up to `n` distinct items, at random. */
function pick<T>(items: T[], n: number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
}
