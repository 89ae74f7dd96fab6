/**
 * The relay's list of servers: the introducer's job. Holds each server's latest verified
 * announcement and the link it came on; tells subscribers whenever the list changes.
 */
import {
  type Announcement,
  type SignedAnnouncement,
  verifyAnnouncement,
} from '../core/protocol/announcement.ts';
import { ProtocolError } from '../core/protocol/errors.ts';
import { ANNOUNCEMENT_LIFETIME_MS, MAX_GRID_SERVERS } from '../core/protocol/limits.ts';

const CLOCK_SKEW_MS = 24 * 3600 * 1000;
import type { ServerId } from '../core/types.ts';

export interface Entry<Link> {
  announcement: Announcement;
  /** When the relay forgets it unless renewed: by the relay's clock, not the server's. */
  expiresAt: number;
  signed: SignedAnnouncement;
  link: Link;
}

export class Registry<Link> {
  private readonly entries = new Map<ServerId, Entry<Link>>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Verifies and records an announcement arriving on `link`. Returns the link it
   * replaces (an older connection of the same server), if any. Throws BAD_ANNOUNCEMENT.
   */
  announce(signed: SignedAnnouncement, link: Link): { announcement: Announcement; replaced: Link | null } {
    // A server's clock may be off: its expiry time is held against a clock a day behind
    // ours, and the entry lives ANNOUNCEMENT_LIFETIME_MS by our clock.
    const now = this.now();
    const announcement = verifyAnnouncement(signed, now - CLOCK_SKEW_MS);
    const old = this.entries.get(announcement.serverId);
    if (old && announcement.seq <= old.announcement.seq) {
      throw new ProtocolError('BAD_ANNOUNCEMENT', 'announcement is older than the one the relay holds');
    }
    if (!old && this.entries.size >= MAX_GRID_SERVERS) {
      throw new ProtocolError('BAD_ANNOUNCEMENT', 'the relay lists as many servers as it can');
    }
    // Copies: the caller's bytes may be views into a larger network buffer.
    const kept = { body: signed.body.slice(), signature: signed.signature.slice() };
    this.entries.set(announcement.serverId, {
      announcement,
      signed: kept,
      link,
      expiresAt: now + ANNOUNCEMENT_LIFETIME_MS,
    });
    this.changed();
    return { announcement, replaced: old && old.link !== link ? old.link : null };
  }

  /** Forgets every server announced over `link` (its connection ended). */
  dropLink(link: Link): void {
    let any = false;
    for (const [id, e] of this.entries) {
      if (e.link === link) {
        this.entries.delete(id);
        any = true;
      }
    }
    if (any) this.changed();
  }

  /** Forgets announcements past their expiry. */
  expire(): number {
    const now = this.now();
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(id);
        n++;
      }
    }
    if (n) this.changed();
    return n;
  }

  get(serverId: string): Entry<Link> | undefined {
    return this.entries.get(serverId as ServerId);
  }

  list(): Entry<Link>[] {
    return [...this.entries.values()];
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
