/**
 * What the relay remembers about each server it has listed, listed now or not: the highest
 * seq it accepted (so a copy of an old announcement is refused even while the server is
 * away) and how long the server has been listed (so, when the list is full, a server that
 * has been here longest is preferred to one that just arrived).
 *
 * A record is needed only while some announcement with a seq at most the remembered one
 * could still be accepted: until the newest accepted announcement's expiry plus the clock
 * skew (a server's seq and expiry grow together). After that every older copy is refused
 * as expired, so the record may go. Memory is bounded by `capacity`; when full, new servers
 * are refused (busy) rather than a record forgotten early.
 */
import type { ServerId } from '../core/types.ts';

export interface ServerRecord {
  /** Highest seq accepted from this server. */
  seq: number;
  /** Relay time after which the record may be forgotten. */
  until: number;
  /** Relay time when its current listing began; null while it is not listed. */
  listedSince: number | null;
  /** How long its last listing lasted, for a server not listed now (ms). */
  lastTenureMs: number;
}

export class ServerMemory {
  private readonly records = new Map<ServerId, ServerRecord>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.records.size;
  }

  get(id: ServerId): ServerRecord | undefined {
    return this.records.get(id);
  }

  /** True when a server not remembered yet cannot be taken in. */
  isFull(): boolean {
    return this.records.size >= this.capacity;
  }

  /** An announcement of `id` with `seq` was accepted; it is listed from `now` if it was not. */
  accepted(id: ServerId, seq: number, until: number, now: number): void {
    const r = this.records.get(id);
    if (!r) {
      if (this.isFull()) throw new Error('ServerMemory is full: check isFull() before accepting');
      this.records.set(id, { seq, until, listedSince: now, lastTenureMs: 0 });
      return;
    }
    r.seq = Math.max(r.seq, seq);
    r.until = Math.max(r.until, until);
    r.listedSince ??= now;
  }

  /** `id` left the list (link closed, expired, displaced). */
  unlisted(id: ServerId, now: number): void {
    const r = this.records.get(id);
    if (!r || r.listedSince === null) return;
    r.lastTenureMs = Math.max(0, now - r.listedSince);
    r.listedSince = null;
  }

  /** How long `id` has been listed (now), or was (its last listing); 0 if not remembered. */
  tenure(id: ServerId, now: number): number {
    const r = this.records.get(id);
    if (!r) return 0;
    return r.listedSince === null ? r.lastTenureMs : Math.max(0, now - r.listedSince);
  }

  /** Forgets records of servers not listed whose `until` has passed; returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const [id, r] of this.records) {
      if (r.listedSince === null && r.until <= now) {
        this.records.delete(id);
        n++;
      }
    }
    return n;
  }
}
