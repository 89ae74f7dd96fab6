/**
 * Servers-of-happiness (reference/tahoe-formats.md §6.2): the size of a maximum matching
 * between servers and the shares they hold or will hold. An upload is good when any `k` of
 * `happy` distinct servers can rebuild the file, which is what a matching of size >= happy
 * guarantees. Pure; no I/O.
 */
import type { ServerId, ShareNum } from '../types.ts';

/** Which shares each server holds (or will hold). */
export type ServerShares = ReadonlyMap<ServerId, ReadonlySet<ShareNum> | readonly ShareNum[]>;

/**
 * A maximum matching share -> server (Kuhn's augmenting paths; N <= 256 shares and a few
 * hundred servers keep this well under a millisecond). Servers are tried in the map's order
 * and shares in the order each server lists them, so the result is deterministic.
 */
export function maximumMatching(edges: ServerShares): Map<ShareNum, ServerId> {
  const matchOfShare = new Map<ShareNum, ServerId>();
  const adjacency = new Map<ServerId, ShareNum[]>();
  for (const [server, shares] of edges) adjacency.set(server, [...shares]);

  const augment = (server: ServerId, seen: Set<ShareNum>): boolean => {
    for (const share of adjacency.get(server) ?? []) {
      if (seen.has(share)) continue;
      seen.add(share);
      const holder = matchOfShare.get(share);
      if (holder === undefined || augment(holder, seen)) {
        matchOfShare.set(share, server);
        return true;
      }
    }
    return false;
  };
  for (const server of adjacency.keys()) augment(server, new Set());
  return matchOfShare;
}

/** Servers-of-happiness of a placement. */
export function happinessOf(edges: ServerShares): number {
  return maximumMatching(edges).size;
}

export interface UnhappinessCounts {
  /** Storage servers known to the client when the upload started. */
  serversFound: number;
  /** Servers that accepted or already held at least one share. */
  serversWithShares: number;
  /** Shares placed (allocated or already present). */
  sharesPlaced: number;
  /** The servers-of-happiness reached. */
  happiness: number;
  k: number;
  happy: number;
  n: number;
}

/** The message of an unhappy upload, in words a user can act on (no key, no cap). */
export function unhappinessMessage(c: UnhappinessCounts): string {
  const need = `an upload needs shares on at least happy=${c.happy} distinct servers (k=${c.k}, n=${c.n})`;
  if (c.serversFound < c.happy) {
    return `found only ${c.serversFound} storage server(s) but ${need}; start more servers or lower --happy`;
  }
  if (c.serversWithShares < c.happy) {
    return (
      `found ${c.serversFound} storage server(s), but only ${c.serversWithShares} of them accepted shares ` +
      `(${c.sharesPlaced} share(s) placed); ${need}`
    );
  }
  return (
    `found ${c.serversFound} storage server(s); ${c.sharesPlaced} share(s) were placed on ` +
    `${c.serversWithShares} server(s), but they are spread over only ${c.happiness} distinct server(s) ` +
    `in the servers-of-happiness sense; ${need}`
  );
}

/** Adds `shares` to the set kept under `key` in `map` (creating it). */
export function addShares<K>(map: Map<K, Set<ShareNum>>, key: K, shares: Iterable<ShareNum>): Set<ShareNum> {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  for (const s of shares) set.add(s);
  return set;
}
