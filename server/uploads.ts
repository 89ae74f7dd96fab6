/**
 * Immutable uploads in progress ("buckets") and the connections that hold them (no I/O).
 *
 * Allocating costs a client nothing, so what it holds is bounded: per connection, and in
 * total. An upload lives as long as its connection: when the connection ends, its buckets
 * become orphans for a short grace period, during which a client that reconnects and
 * writes with the same upload secret takes them over (the upload secret stays the only
 * authority over a bucket). An orphan past its grace is aborted, and at the server's
 * limit the oldest orphan makes room for a live connection's allocation at once. So
 * holding slots takes live connections, and one connection holds at most its share.
 */
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { PendingShare } from './backend.ts';
import type { Range } from './ranges.ts';

/** One client connection, as the upload table sees it (the handler opens one per socket or relay channel). */
export class UploadSession {
  live = true;
  readonly buckets = new Set<Bucket>();
}

export interface Bucket {
  key: string;
  si: StorageIndex;
  sh: ShareNum;
  upload: Uint8Array;
  /** Allocated size, booked in the space ledger until the bucket is closed or dropped. */
  size: number;
  pending: PendingShare;
  written: Range[];
  lastActive: number;
  /** Writes to one bucket apply in order. */
  queue: Promise<void>;
  renew: Uint8Array;
  cancel: Uint8Array;
  done: boolean;
  session: UploadSession;
  /** When its connection ended (null while it has a live one). */
  orphanedAt: number | null;
}

export interface UploadLimits {
  perConnection: number;
  total: number;
  /** How long an orphan waits for its client to come back. */
  graceMs: number;
  /** An upload nobody touched for this long is aborted, connection or not. */
  idleMs: number;
}

export type Refusal = 'connection' | 'server' | 'closed';

export class UploadTable {
  private readonly byKey = new Map<string, Bucket>();
  /** Orphans, oldest first. */
  private readonly orphans = new Set<Bucket>();

  constructor(readonly limits: UploadLimits) {}

  get size(): number {
    return this.byKey.size;
  }

  get orphanCount(): number {
    return this.orphans.size;
  }

  get(key: string): Bucket | undefined {
    return this.byKey.get(key);
  }

  all(): Bucket[] {
    return [...this.byKey.values()];
  }

  /**
   * Whether `session` may start one more upload. At the server's limit the oldest orphan
   * gives way: it is removed here and returned for the caller to discard.
   */
  admit(session: UploadSession): { refused: Refusal | null; evicted?: Bucket } {
    if (!session.live) return { refused: 'closed' };
    if (session.buckets.size >= this.limits.perConnection) return { refused: 'connection' };
    if (this.byKey.size < this.limits.total) return { refused: null };
    const [victim] = this.orphans;
    if (!victim) return { refused: 'server' };
    this.remove(victim);
    return { refused: null, evicted: victim };
  }

  add(b: Bucket): void {
    this.byKey.set(b.key, b);
    b.session.buckets.add(b);
    if (!b.session.live) {
      b.orphanedAt = b.lastActive;
      this.orphans.add(b);
    }
  }

  remove(b: Bucket): void {
    if (this.byKey.get(b.key) === b) this.byKey.delete(b.key);
    b.session.buckets.delete(b);
    this.orphans.delete(b);
  }

  /**
   * A request for `b` came on `session`: it counts as activity, and an orphan moves to
   * `session` if that has room (else it stays an orphan and its grace keeps running).
   */
  touch(b: Bucket, session: UploadSession, now: number): void {
    b.lastActive = now;
    if (b.session === session || b.session.live || !session.live) return;
    if (session.buckets.size >= this.limits.perConnection) return;
    b.session.buckets.delete(b);
    this.orphans.delete(b);
    b.session = session;
    b.orphanedAt = null;
    session.buckets.add(b);
  }

  /** The connection ended: its uploads become orphans. */
  close(session: UploadSession, now: number): void {
    if (!session.live) return;
    session.live = false;
    for (const b of session.buckets) {
      b.orphanedAt = now;
      this.orphans.add(b);
    }
  }

  /** Uploads to abort now: orphans past their grace, and uploads idle past the idle timeout. */
  expired(now: number): Bucket[] {
    const out = new Set<Bucket>();
    for (const b of this.orphans)
      if (b.orphanedAt !== null && now - b.orphanedAt >= this.limits.graceMs) out.add(b);
    for (const b of this.byKey.values()) if (b.lastActive < now - this.limits.idleMs) out.add(b);
    return [...out];
  }
}
