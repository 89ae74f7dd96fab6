/**
 * The relay's list of servers: the introducer's job. Holds each server's latest verified
 * announcement and the link it came on, decides which announcements to take, and tells
 * listeners about every entry that changes.
 *
 * What it takes (cheap checks first; the ~1 ms signature check last, only for an
 * announcement that would otherwise be kept):
 *  - `expires` within (now - skew, now + lifetime + skew] by the relay's clock;
 *  - `seq` above any this relay has accepted for the server (remembered past the lifetime
 *    of the announcement that carried it, see ServerMemory), so copies are refused even
 *    while the server is away;
 *  - a server held by a live link is renewed only over that link (another link is refused
 *    and the holder asked whether it is still there);
 *  - one server per link;
 *  - at most `maxServers` listed. When full, listed servers keep renewing and newcomers are
 *    refused — except a server that had been listed for `establishedMs` and left moments
 *    ago (its link dropped), which takes back a place from the newest arrival that has not
 *    been listed that long itself. Why: anyone can make keys, so the relay cannot tell a
 *    real server from a made-up one; what it can see is who has been renewing longest. An
 *    attacker filling the list cannot push out servers that were there first, nor keep out
 *    an established one whose connection blinked.
 */
import {
  type Announcement,
  checkAnnouncementSignature,
  decodeAnnouncement,
  type SignedAnnouncement,
} from '../core/protocol/announcement.ts';
import { ProtocolError } from '../core/protocol/errors.ts';
import { ANNOUNCEMENT_CLOCK_SKEW_MS, ANNOUNCEMENT_LIFETIME_MS } from '../core/protocol/limits.ts';
import type { ServerId } from '../core/types.ts';
import { ServerMemory } from './server-memory.ts';

/** What the registry needs of a link. */
export interface RegistryLink {
  /** Whether the link's connection is still open. */
  isOpen(): boolean;
  /** Asks the link's peer to answer soon; a peer that does not is disconnected. */
  probe(): void;
}

export interface Entry<Link> {
  announcement: Announcement;
  /** When the relay forgets it unless renewed, by the relay's clock. */
  expiresAt: number;
  signed: SignedAnnouncement;
  link: Link;
}

export interface Admission<Link> {
  announcement: Announcement;
  /** The server was not listed before this announcement. */
  joined: boolean;
  /** The link of a server that lost its place to this one (see the file comment). */
  displaced: Link | null;
}

export interface RegistryOptions {
  now?: () => number;
  maxServers: number;
  establishedMs: number;
  rememberServers: number;
  /** Who judges, in refusal messages: 'relay' (default) or 'server' (a server taking gossip). */
  judge?: 'relay' | 'server';
}

export class Registry<Link extends RegistryLink> {
  private readonly entries = new Map<ServerId, Entry<Link>>();
  private readonly byLink = new Map<Link, ServerId>();
  private readonly memory: ServerMemory;
  private readonly listeners = new Set<(id: ServerId, entry: Entry<Link> | undefined) => void>();
  private readonly now: () => number;

  constructor(private readonly opts: RegistryOptions) {
    this.now = opts.now ?? Date.now;
    this.memory = new ServerMemory(opts.rememberServers);
  }

  /**
   * Decides on an announcement arriving on `link`. Throws a ProtocolError when refused:
   * BAD_ANNOUNCEMENT (malformed, forged, stale, replayed, a second server on one link),
   * ALREADY_LINKED (the server is held by another live link), RELAY_FULL.
   */
  announce(signed: SignedAnnouncement, link: Link): Admission<Link> {
    const now = this.now();
    const ann = decodeAnnouncement(signed);
    const id = ann.serverId;
    const who = `${id.slice(0, 12)}…`;
    const judge = this.opts.judge ?? 'relay';
    if (ann.expires <= now - ANNOUNCEMENT_CLOCK_SKEW_MS) {
      throw new ProtocolError(
        'BAD_ANNOUNCEMENT',
        `announcement of ${who} expired ${seconds(now - ann.expires)} ago by the ${judge}'s clock (is the server's clock right?)`,
      );
    }
    if (ann.expires > now + ANNOUNCEMENT_LIFETIME_MS + ANNOUNCEMENT_CLOCK_SKEW_MS) {
      throw new ProtocolError(
        'BAD_ANNOUNCEMENT',
        `announcement of ${who} expires ${seconds(ann.expires - now)} from now by the ${judge}'s clock; at most ${seconds(ANNOUNCEMENT_LIFETIME_MS)} (is the server's clock right?)`,
      );
    }
    const record = this.memory.get(id);
    if (record && ann.seq <= record.seq) {
      throw new ProtocolError(
        'BAD_ANNOUNCEMENT',
        `announcement of ${who} is older than one this ${judge} has accepted (seq ${ann.seq}, accepted ${record.seq}): a replay`,
      );
    }
    const current = this.entries.get(id);
    if (current && current.link !== link && current.link.isOpen()) {
      current.link.probe();
      throw new ProtocolError(
        'ALREADY_LINKED',
        `server ${who} is linked to this relay on another connection; retry once that one is gone`,
      );
    }
    const carried = this.byLink.get(link);
    if (carried !== undefined && carried !== id) {
      // A server never changes its id on a link: whatever is on this link is not it.
      this.unlist(carried, now);
      throw new ProtocolError('BAD_ANNOUNCEMENT', 'one link carries one server');
    }
    let displace: ServerId | null = null;
    if (!current) {
      if (this.entries.size >= this.opts.maxServers) {
        displace = this.placeFor(id, now);
        if (displace === null) {
          throw new ProtocolError(
            'RELAY_FULL',
            `the ${judge} lists its maximum of ${this.opts.maxServers} servers; the servers listed longest keep their places`,
          );
        }
      }
      if (!record && this.memory.isFull()) {
        throw new ProtocolError(
          'RELAY_FULL',
          `the ${judge} is taking in too many new servers just now; retry later`,
        );
      }
    }
    checkAnnouncementSignature(signed, ann);

    let displaced: Link | null = null;
    if (displace !== null) {
      displaced = this.entries.get(displace)?.link ?? null;
      this.unlist(displace, now);
    }
    if (current && current.link !== link) this.byLink.delete(current.link);
    // Copies: the caller's bytes may be views into a larger network buffer.
    const entry: Entry<Link> = {
      announcement: ann,
      signed: { body: signed.body.slice(), signature: signed.signature.slice() },
      link,
      expiresAt: Math.min(now + ANNOUNCEMENT_LIFETIME_MS, ann.expires + ANNOUNCEMENT_CLOCK_SKEW_MS),
    };
    this.entries.set(id, entry);
    this.byLink.set(link, id);
    this.memory.accepted(id, ann.seq, ann.expires + ANNOUNCEMENT_CLOCK_SKEW_MS, now);
    this.changed(id, entry);
    return { announcement: ann, joined: !current, displaced };
  }

  /** The server `link` carries, if it is listed. */
  holds(link: Link): ServerId | undefined {
    return this.byLink.get(link);
  }

  /** Forgets the server announced over `link` (its connection ended). */
  dropLink(link: Link): void {
    const id = this.byLink.get(link);
    if (id === undefined) return;
    this.byLink.delete(link);
    if (this.entries.get(id)?.link === link) this.unlist(id, this.now());
  }

  /** Forgets announcements past their expiry, and remembered servers no copy can revive. */
  expire(): number {
    const now = this.now();
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.unlist(id, now);
        n++;
      }
    }
    this.memory.sweep(now);
    return n;
  }

  get(serverId: string): Entry<Link> | undefined {
    return this.entries.get(serverId as ServerId);
  }

  /** Listed servers, those listed longest first. */
  list(): Entry<Link>[] {
    return [...this.entries.values()];
  }

  /** True while this registry lists `id` or remembers it (its last seq) from a link. */
  remembers(id: ServerId): boolean {
    return this.entries.has(id) || this.memory.get(id) !== undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Servers remembered (listed or recently listed): bounded by `rememberServers`. */
  get remembered(): number {
    return this.memory.size;
  }

  /** Called with the server id and its new entry (undefined: it left the list). */
  onChange(fn: (id: ServerId, entry: Entry<Link> | undefined) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * When the list is full: the server whose place `id` may take, or null. Only a server
   * that had been listed for `establishedMs` gets one, and only from the newest arrival
   * that has not been listed that long.
   */
  private placeFor(id: ServerId, now: number): ServerId | null {
    if (this.memory.tenure(id, now) < this.opts.establishedMs) return null;
    let newest: ServerId | null = null;
    let newestSince = Number.NEGATIVE_INFINITY;
    for (const sid of this.entries.keys()) {
      const since = this.memory.get(sid)?.listedSince ?? Number.NEGATIVE_INFINITY;
      if (since > newestSince) {
        newest = sid;
        newestSince = since;
      }
    }
    return newest !== null && now - newestSince < this.opts.establishedMs ? newest : null;
  }

  private unlist(id: ServerId, now: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    if (this.byLink.get(e.link) === id) this.byLink.delete(e.link);
    this.memory.unlisted(id, now);
    this.changed(id, undefined);
  }

  private changed(id: ServerId, entry: Entry<Link> | undefined): void {
    for (const fn of this.listeners) fn(id, entry);
  }
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 120 ? `${Math.round(s / 60)} min` : `${s} s`;
}
