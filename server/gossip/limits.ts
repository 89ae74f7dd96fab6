/**
 * What gossip between servers allows, with the reason for each figure. A server's HTTP port
 * is reachable by anyone, so what a stranger can make it do through gossip is bounded as
 * the relay bounds announcements (relay/limits.ts).
 */
import type { BucketSpec } from '../../relay/rate-limit.ts';

export interface GossipLimits {
  /** How often this server signs a fresh announcement of itself and pulls one peer's list. */
  intervalMs: number;
  /** New announcements wait this long to be passed on together (one request per peer). */
  pushDelayMs: number;
  /** Peers each batch of new announcements is passed to (chosen at random each time). */
  fanout: number;
  /** Announcements in one push, and the most a push may carry. */
  maxBatch: number;
  /** A peer that does not answer a push or pull in this time is skipped. */
  requestTimeoutMs: number;
  /** Pushes taken from anyone, together. */
  requests: BucketSpec;
  /** Signature checks for announcements taken from anyone, together. */
  checks: BucketSpec;
}

export const DEFAULT_GOSSIP_LIMITS: Readonly<GossipLimits> = Object.freeze({
  // The relay link's renewal pace: announcements live 10 minutes, so a server is renewed
  // ten times over before anyone forgets it.
  intervalMs: 60_000,
  pushDelayMs: 500,
  // Epidemic spread: each server passes what is new to it to 3 others, so news reaches
  // every one of N servers in about log3(N) rounds, and each server receives about three
  // copies of each announcement (copies are recognised by their bytes and cost no check).
  fanout: 3,
  maxBatch: 64,
  requestTimeoutMs: 5_000,
  // A grid of 300 servers renewing every minute pushes each server ~15 times a second.
  requests: { burst: 100, perSecond: 50 },
  // A signature check costs ~1.3 ms. The same grid needs ~5/s; a burst covers a full list
  // pulled at start. 20/s is under 3% of a core, as for the relay's newcomers.
  checks: { burst: 600, perSecond: 20 },
});

export function gossipLimits(overrides: Partial<GossipLimits> = {}): GossipLimits {
  const l = { ...DEFAULT_GOSSIP_LIMITS, ...overrides };
  if (!(l.intervalMs >= 100) || !(l.pushDelayMs >= 0) || !(l.fanout >= 1) || !(l.maxBatch >= 1)) {
    throw new RangeError(`unusable gossip limits: ${JSON.stringify(l)}`);
  }
  return l;
}
