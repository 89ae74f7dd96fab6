/**
 * Clients following the server list (`WS /v1/subscribe`). Each gets the list when it
 * subscribes, then the latest list after changes: at most one push per `intervalMs`
 * however fast servers come and go, and never a second push queued behind one it has not
 * taken yet — a slow reader gets the latest state when it catches up, and the relay holds
 * at most one list for it. One that takes nothing for `stallMs` is dropped with a reason.
 */
import { WebSocket } from '../core/protocol/ws-package.ts';
import { dropSlowPeer } from './drop-peer.ts';

export interface SubscribersOptions {
  /** The current encoded list. */
  list: () => Uint8Array;
  intervalMs: number;
  stallMs: number;
  dropGraceMs: number;
  /** Monotonic milliseconds (pacing only; default performance.now). */
  clock?: () => number;
}

/** A first push waits this long, so a burst of changes (a grid starting) becomes one. */
const GATHER_MS = 20;

interface State {
  /** The list version last sent. */
  sent: number;
  /** When a push found it still holding the previous one (null: it was not). */
  behindSince: number | null;
}

export class Subscribers {
  private readonly subs = new Map<WebSocket, State>();
  private version = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastPush = Number.NEGATIVE_INFINITY;
  private readonly clock: () => number;
  /** Push rounds so far (for stats and tests). */
  pushes = 0;

  constructor(private readonly opts: SubscribersOptions) {
    this.clock = opts.clock ?? (() => performance.now());
  }

  get size(): number {
    return this.subs.size;
  }

  add(ws: WebSocket): void {
    this.subs.set(ws, { sent: this.version, behindSince: null });
    ws.send(this.opts.list());
  }

  delete(ws: WebSocket): void {
    this.subs.delete(ws);
  }

  /** The list changed: push it soon. */
  changed(): void {
    this.version++;
    this.schedule();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(GATHER_MS, this.lastPush + this.opts.intervalMs - this.clock());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.push();
    }, wait);
    this.timer.unref();
  }

  private push(): void {
    const now = this.clock();
    this.lastPush = now;
    this.pushes++;
    let bytes: Uint8Array | null = null;
    let waiting = false;
    for (const [ws, s] of this.subs) {
      if (s.sent === this.version || ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > 0) {
        s.behindSince ??= now;
        if (now - s.behindSince >= this.opts.stallMs) {
          this.subs.delete(ws);
          dropSlowPeer(ws, 'not reading the server list', this.opts.dropGraceMs);
        } else {
          waiting = true;
        }
        continue;
      }
      bytes ??= this.opts.list();
      ws.send(bytes);
      s.sent = this.version;
      s.behindSince = null;
    }
    // Look again for those still holding an older push: they get the latest, or are dropped.
    if (waiting) this.schedule();
  }
}
