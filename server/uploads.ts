/**
 * Immutable uploads in progress ("buckets"), the connections that hold them, and uploads
 * parked for a client to resume (no I/O).
 *
 * Allocating costs a client nothing, so what it holds is bounded: per connection, and in
 * total. An upload lives as long as its connection: when the connection ends, its buckets
 * become orphans for a short grace period, during which a client that reconnects and
 * writes with the same upload secret takes them over (the upload secret stays the only
 * authority over a bucket). An orphan past its grace is parked, and at the server's
 * limit the oldest orphan makes room for a live connection's allocation at once. So
 * holding slots takes live connections, and one connection holds at most its share.
 *
 * A parked upload (ParkedTable) is what a bucket leaves behind when it is set aside without
 * being closed: the bytes it received, made durable, and the byte ranges they cover. It takes
 * no upload slot and no file handle; an `allocate` with the same upload secret takes it back.
 * Parked uploads are bounded in number, bytes and age.
 */
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { PendingShare } from './backends/backend.ts';
import type { Range } from './ranges.ts';

/** One client connection, as the upload table sees it (the handler opens one per socket or relay channel). */
export class UploadSession {
  live = true;
  readonly buckets = new Set<Bucket>();
}

/** A write a bucket has taken and not yet applied: resolved once applied, rejected if refused. */
export interface QueuedWrite {
  offset: number;
  data: Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
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
  /** Writes to one bucket apply in order: what runs now, and what waits for it. */
  queue: Promise<void>;
  waiting: QueuedWrite[];
  /** Whether `queue` is applying `waiting` (a write that arrives then joins it). */
  draining: boolean;
  renew: Uint8Array;
  cancel: Uint8Array;
  done: boolean;
  session: UploadSession;
  /** When its connection ended (null while it has a live one). */
  orphanedAt: number | null;
  /** SHA-256 of `upload`: what a checkpoint records instead of the secret. */
  secretHash: Uint8Array;
  /** Share-data bytes received by writes since the bucket was last granted (for the log). */
  received: number;
  /** Bytes written since the last checkpoint began. */
  unsynced: number;
  /** The checkpoint being taken, if any (one at a time). */
  checkpointing: Promise<void> | null;
  /** Runs a checkpoint once written bytes have waited long enough. */
  checkpointTimer: ReturnType<typeof setTimeout> | null;
}

/** An upload set aside unfinished, waiting for its client (same upload secret) to take it back. */
export interface ParkedUpload {
  /** bucket key + the secret's hash: uploads with different secrets never collide. */
  key: string;
  /** The bucket key (storage index and share). */
  bucket: string;
  si: StorageIndex;
  sh: ShareNum;
  secretHash: Uint8Array;
  /** The allocated size it was written for. */
  size: number;
  /** Share-data ranges that are on disk durably. */
  ranges: Range[];
  /** Milliseconds since the epoch when it was parked (or last checkpointed, after a restart). */
  parkedAt: number;
  /** Bytes it takes on disk (about). */
  bytes: number;
  pending: PendingShare;
}

export interface ParkedLimits {
  /** Parked uploads kept at most (oldest go first). */
  count: number;
  /** Their bytes on disk at most (oldest go first). */
  bytes: number;
  /** A parked upload older than this is deleted. */
  ttlMs: number;
}

/**
 * Parked uploads, oldest first. `add` returns the ones that had to give way for the bounds;
 * the caller deletes their files.
 */
export class ParkedTable {
  /** Oldest first. */
  private readonly byKey = new Map<string, ParkedUpload>();
  private readonly byBucket = new Map<string, Set<ParkedUpload>>();
  private totalBytes = 0;

  constructor(readonly limits: ParkedLimits) {}

  get size(): number {
    return this.byKey.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get(key: string): ParkedUpload | undefined {
    return this.byKey.get(key);
  }

  all(): ParkedUpload[] {
    return [...this.byKey.values()];
  }

  /** Parked uploads of one share (bucket key), whatever their secret. */
  forBucket(bucket: string): ParkedUpload[] {
    return [...(this.byBucket.get(bucket) ?? [])];
  }

  /** Keeps `p`; returns what gave way to the bounds (perhaps `p` itself) for the caller to delete. */
  add(p: ParkedUpload): ParkedUpload[] {
    const evicted: ParkedUpload[] = [];
    const old = this.byKey.get(p.key);
    if (old) {
      this.remove(old);
      if (old.pending !== p.pending) evicted.push(old);
    }
    if (p.bytes > this.limits.bytes || this.limits.count === 0) return [...evicted, p];
    this.byKey.set(p.key, p);
    let set = this.byBucket.get(p.bucket);
    if (!set) {
      set = new Set();
      this.byBucket.set(p.bucket, set);
    }
    set.add(p);
    this.totalBytes += p.bytes;
    while (this.byKey.size > this.limits.count || this.totalBytes > this.limits.bytes) {
      const victim = this.oldest();
      if (!victim || victim === p) break;
      this.remove(victim);
      evicted.push(victim);
    }
    return evicted;
  }

  remove(p: ParkedUpload): void {
    if (this.byKey.get(p.key) !== p) return;
    this.byKey.delete(p.key);
    const set = this.byBucket.get(p.bucket);
    set?.delete(p);
    if (set?.size === 0) this.byBucket.delete(p.bucket);
    this.totalBytes -= p.bytes;
  }

  /** The oldest, for making room. */
  oldest(): ParkedUpload | undefined {
    const [first] = this.byKey.values();
    return first;
  }

  /** Parked uploads past their age. */
  expired(now: number): ParkedUpload[] {
    return this.all().filter((p) => now - p.parkedAt >= this.limits.ttlMs);
  }
}

export interface UploadLimits {
  perConnection: number;
  total: number;
  /** How long an orphan waits for its client to come back. */
  graceMs: number;
  /** An upload nobody touched for this long is parked, connection or not. */
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

  /** Uploads to park now: orphans past their grace, and uploads idle past the idle timeout. */
  expired(now: number): Bucket[] {
    const out = new Set<Bucket>();
    for (const b of this.orphans)
      if (b.orphanedAt !== null && now - b.orphanedAt >= this.limits.graceMs) out.add(b);
    for (const b of this.byKey.values()) if (b.lastActive < now - this.limits.idleMs) out.add(b);
    return [...out];
  }
}
