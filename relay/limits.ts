/**
 * What one relay allows, with the reason for each default. A relay is reachable by anyone:
 * every figure here bounds what a stranger can make it do (CPU for signature checks,
 * memory for lists, buffers and remembered servers). Tests pass smaller figures.
 */
import * as L from '../core/protocol/limits.ts';
import type { HeardLimits } from './heard-servers.ts';
import type { BucketSpec } from './rate-limit.ts';

export interface RelayLimits {
  /** Servers listed at once (`cairn relay --max-servers`). */
  maxServers: number;
  /**
   * A server listed this long has earned its place: if its link drops while the list is
   * full, it may come back (within `rememberMs`) in place of the newest arrival that has
   * not earned its own yet.
   */
  establishedMs: number;
  /** Servers whose last seq (and tenure) the relay remembers at once, listed or not. */
  rememberServers: number;
  /** Announcements over one link. */
  perLink: BucketSpec;
  /** Announcements over all links that hold no listed server yet, together. */
  newcomers: BucketSpec;
  /** Consecutive refusals for announcing too often after which a link is closed. */
  maxRateStrikes: number;
  /** Least time between two pushes of the list to subscribers. */
  pushIntervalMs: number;
  /** A subscriber that has not taken the previous push for this long is dropped. */
  subscriberStallMs: number;
  /** Clients relayed to one server at once. */
  maxChannelsPerLink: number;
  /** Replies held for one relayed client that does not read them. */
  maxChannelBuffered: number;
  /** Replies held for all the relayed clients of one server together. */
  maxLinkRepliesBuffered: number;
  /** Client frames waiting to go down one server's link before its clients are paused. */
  linkHighWater: number;
  /** …and resumed. */
  linkLowWater: number;
  /** A link the relay asks "still there?" (a server reconnected elsewhere) has this long to answer. */
  probeTimeoutMs: number;
  /** A peer closed for not reading gets this long to read the close reason before it is cut off. */
  dropGraceMs: number;
  /** Servers heard of through the linked servers' lists (relay/heard-servers.ts). */
  heard: HeardLimits;
}

export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxServers: L.DEFAULT_MAX_LISTED_SERVERS,
  // An announcement's lifetime: by then a server has renewed ten times.
  establishedMs: L.ANNOUNCEMENT_LIFETIME_MS,
  // Unreachable under the newcomer limit below: records are made only by admitted newcomers
  // (at most 50 + 20/s) and live until their announcement's expiry (≤ 12 min), so at most
  // ~14,500 besides the listed servers. Full anyway → newcomers wait ("busy"), nothing is forgotten early.
  rememberServers: 16_384,
  // A server announces once a minute (and on joining); 5 at once and one per 5 s leaves room
  // for retries and a few extra announcements after big changes in free space.
  perLink: { burst: 5, perSecond: 0.2 },
  // A signature check costs ~1.3 ms: 20/s is under 3% of a core. A relay restarting under a
  // full grid takes servers back at this pace (servers retry when told to).
  newcomers: { burst: 50, perSecond: 20 },
  maxRateStrikes: 5,
  // "A few updates a second, the latest state": a grid starting up is one push, not hundreds.
  pushIntervalMs: 500,
  // Keep-alive would cut a silent peer within a minute anyway; a list backlog is dropped sooner.
  subscriberStallMs: 30_000,
  maxChannelsPerLink: 128,
  // An honest client has at most MAX_IN_FLIGHT_BYTES of replies coming (it counts expected
  // read replies), so twice that plus a frame never cuts off one that is reading, slowly.
  maxChannelBuffered: 2 * L.MAX_IN_FLIGHT_BYTES + L.MAX_FRAME_BYTES,
  maxLinkRepliesBuffered: 64 * 1024 * 1024,
  linkHighWater: 16 * 1024 * 1024,
  linkLowWater: 4 * 1024 * 1024,
  probeTimeoutMs: 5_000,
  dropGraceMs: 2_000,
  heard: {
    // The gossip round's pace: announcements live 10 minutes, renewed every minute.
    intervalMs: 60_000,
    // Servers link in bursts (a grid starting, the relay restarting): one pull after the burst.
    joinDelayMs: 2_000,
    requestTimeoutMs: 5_000,
    // As the newcomers above: a full list pulled at once, then under 3% of a core.
    checks: { burst: 600, perSecond: 20 },
    maxServers: L.DEFAULT_MAX_LISTED_SERVERS,
  },
});

export function relayLimits(overrides: Partial<RelayLimits> = {}): RelayLimits {
  const l = { ...DEFAULT_RELAY_LIMITS, ...overrides };
  if (!Number.isInteger(l.maxServers) || l.maxServers < 1 || l.maxServers > L.MAX_GRID_SERVERS) {
    throw new RangeError(`a relay lists 1..${L.MAX_GRID_SERVERS} servers, not ${l.maxServers}`);
  }
  if (l.rememberServers < l.maxServers) {
    throw new RangeError('a relay must remember at least as many servers as it lists');
  }
  if (l.linkLowWater > l.linkHighWater) throw new RangeError('linkLowWater must not exceed linkHighWater');
  return l;
}
