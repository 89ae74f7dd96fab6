/**
 * This server's own signed announcements, for every place that hears them (the relay link,
 * the servers it gossips with): one seq sequence per process, so no two announcements of
 * this server carry the same seq, whoever they went to.
 */
import {
  type Announcement,
  type SignedAnnouncement,
  signAnnouncement,
} from '../core/protocol/announcement.ts';
import type { ServerKeyPair } from '../core/protocol/identity.ts';
import * as L from '../core/protocol/limits.ts';

export type DescribeServer = () => Promise<
  Pick<Announcement, 'nickname' | 'url' | 'availableSpace' | 'certificates'>
>;

export class SelfAnnouncer {
  private lastSeq = 0;
  private readonly now: () => number;

  constructor(
    private readonly key: ServerKeyPair,
    private readonly describe: DescribeServer,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  /** A fresh announcement; rejects when the server cannot describe itself (its folder gone). */
  async sign(): Promise<SignedAnnouncement> {
    const d = await this.describe();
    // The seq is the time in ms (kept growing within this process): the relay and every server
    // refuse any seq not above the last they accepted, and remember that for as long as an
    // announcement can live. Time needs no state on disk and survives restarts; they already
    // require the server's clock within a minute of theirs for `expires`, so a clock good
    // enough for one is good enough for the other. (A clock stepped back by D across a restart
    // keeps the server unlisted for min(D, ~11 min), with the reason in the log.)
    const seq = Math.max(this.now(), this.lastSeq + 1);
    this.lastSeq = seq;
    return signAnnouncement(this.key, {
      serverId: this.key.serverId,
      ...d,
      seq,
      expires: this.now() + L.ANNOUNCEMENT_LIFETIME_MS,
    });
  }
}
