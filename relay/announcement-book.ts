/**
 * Announcements heard without a link: what a storage server knows of other servers (and its
 * own), which it serves at GET /v1/servers and passes on to the servers it knows; and, at
 * the relay, the servers it hears of from its linked servers though they never linked to it
 * (relay/heard-servers.ts). It judges every announcement
 * by the relay's own rules, with the relay's own code (relay/registry.ts): `expires`
 * within the lifetime and clock skew, `seq` above any accepted for that server (remembered
 * past the announcement's life, so replays are refused even while the server is away),
 * the signature checked last, the list bounded and its longest-listed servers kept.
 *
 * The relay ties each server to the link it announced on. Gossip has no such link (a
 * server's announcement reaches us through anyone), so each server gets a pseudo-link of
 * its own that is never "open": the registry's link rules then never refuse a renewal, and
 * everything else applies unchanged.
 */
import {
  type Announcement,
  decodeAnnouncement,
  type SignedAnnouncement,
} from '../core/protocol/announcement.ts';
import type { ServerId } from '../core/types.ts';
import { DEFAULT_RELAY_LIMITS } from './limits.ts';
import { Registry, type RegistryLink } from './registry.ts';
import { EncodedServerList } from './server-list.ts';
import { equalBytes } from '../core/primitives/bytes.ts';

/** The pseudo-link of one announced server (see the file comment). */
class Heard implements RegistryLink {
  isOpen(): boolean {
    return false;
  }
  probe(): void {}
}

export interface BookOptions {
  now?: () => number;
  /** Servers known at once (default: what a relay lists, DEFAULT_MAX_LISTED_SERVERS). */
  maxServers?: number;
}

export class AnnouncementBook {
  private readonly registry: Registry<Heard>;
  private readonly links = new Map<ServerId, Heard>();
  private readonly list = new EncodedServerList();
  private readonly listeners = new Set<(signed: SignedAnnouncement, ann: Announcement) => void>();
  private readonly changeListeners = new Set<
    (id: ServerId, signed: SignedAnnouncement | undefined) => void
  >();

  constructor(opts: BookOptions = {}) {
    this.registry = new Registry<Heard>({
      now: opts.now,
      maxServers: opts.maxServers ?? DEFAULT_RELAY_LIMITS.maxServers,
      establishedMs: DEFAULT_RELAY_LIMITS.establishedMs,
      rememberServers: DEFAULT_RELAY_LIMITS.rememberServers,
      judge: 'server',
    });
    this.registry.onChange((id, entry) => {
      if (entry) {
        this.list.set(id, entry.signed);
        for (const fn of this.listeners) fn(entry.signed, entry.announcement);
      } else {
        this.list.delete(id);
        this.links.delete(id);
      }
      for (const fn of this.changeListeners) fn(id, entry?.signed);
    });
  }

  /** True when this exact announcement is the one held: a copy costs nothing and goes no further. */
  holds(signed: SignedAnnouncement): boolean {
    let id: ServerId;
    try {
      id = decodeAnnouncement(signed).serverId;
    } catch {
      return false;
    }
    const held = this.registry.get(id)?.signed;
    return (
      held !== undefined && equalBytes(held.signature, signed.signature) && equalBytes(held.body, signed.body)
    );
  }

  /**
   * True when a newer (or the same) announcement of the same server is held: a peer's list
   * lagging behind ours, which a pull expects and need not judge.
   */
  holdsNewer(signed: SignedAnnouncement): boolean {
    let ann: Announcement;
    try {
      ann = decodeAnnouncement(signed);
    } catch {
      return false;
    }
    const held = this.registry.get(ann.serverId);
    return held !== undefined && held.announcement.seq >= ann.seq;
  }

  /**
   * Takes a new announcement, or throws the registry's ProtocolError (BAD_ANNOUNCEMENT for
   * a malformed, forged, stale or replayed one; RELAY_FULL when the book is full).
   */
  offer(signed: SignedAnnouncement): Announcement {
    const id = decodeAnnouncement(signed).serverId;
    let link = this.links.get(id);
    const fresh = link === undefined;
    link ??= new Heard();
    if (fresh) this.links.set(id, link);
    try {
      return this.registry.announce(signed, link).announcement;
    } catch (err) {
      if (fresh && this.registry.get(id) === undefined) this.links.delete(id);
      throw err;
    }
  }

  /** Called with every announcement taken (new servers and renewals). */
  onAccepted(fn: (signed: SignedAnnouncement, ann: Announcement) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Called whenever the list changes (a server taken, renewed or forgotten), with that
   * server and its announcement now (undefined: forgotten).
   */
  onChange(fn: (id: ServerId, signed: SignedAnnouncement | undefined) => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  /** The announcement held for `id`, if any. */
  get(id: ServerId): SignedAnnouncement | undefined {
    return this.registry.get(id)?.signed;
  }

  /** Drops the announcement of `id` (its seq stays remembered: a copy cannot bring it back). */
  forget(id: ServerId): void {
    const link = this.links.get(id);
    if (link) this.registry.dropLink(link);
  }

  /** Forgets expired announcements. */
  expire(): number {
    return this.registry.expire();
  }

  /** Known servers, listed longest first. */
  announcements(): Announcement[] {
    return this.registry.list().map((e) => e.announcement);
  }

  /** The signed list, encoded as the relay serves it (shared bytes: do not modify). */
  bytes(): Uint8Array {
    return this.list.bytes();
  }

  get size(): number {
    return this.registry.size;
  }
}
