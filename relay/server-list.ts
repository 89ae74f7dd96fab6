/**
 * The server list as the relay serves it, kept encoded: each entry is encoded once, when
 * its server announces, and the whole list is joined from the entries (a copy, no
 * encoding) only when it is read after a change. An announcement costs the same whatever
 * the list's length; reading costs one copy of the list at most once per change batch.
 */
import type { SignedAnnouncement } from '../core/protocol/announcement.ts';
import { encodeServerEntry, joinServerList } from '../core/protocol/grid.ts';
import type { ServerId } from '../core/types.ts';

export class EncodedServerList {
  private readonly entries = new Map<ServerId, Uint8Array>();
  private joined: Uint8Array | null = null;
  /** How many times the list was joined (for stats and tests). */
  builds = 0;

  set(id: ServerId, signed: SignedAnnouncement): void {
    this.entries.set(id, encodeServerEntry(signed));
    this.joined = null;
  }

  delete(id: ServerId): void {
    if (this.entries.delete(id)) this.joined = null;
  }

  /** The encoded list (callers must not modify it: it is shared until the next change). */
  bytes(): Uint8Array {
    if (!this.joined) {
      this.joined = joinServerList([...this.entries.values()]);
      this.builds++;
    }
    return this.joined;
  }
}
