/**
 * Immutable upload placement (reference/tahoe-formats.md §6.3, Tahoe's "upload strategy of
 * happiness"): keep the shares servers already hold where a matching can use them, spread the
 * rest one per server, and only then double up. Pure; the uploader calls it again whenever a
 * server refuses an allocation or fails.
 */
import type { ServerId, ShareNum } from '../types.ts';
import { addShares, type ServerShares, happinessOf, maximumMatching } from './happiness.ts';

export interface PlacementInput {
  /** Every share number of the file, 0..N-1. */
  shares: readonly ShareNum[];
  /** Servers that may receive new shares, in permuted order (earlier is preferred). */
  writable: readonly ServerId[];
  /** Servers that only count for the shares they already hold (full, or too small). */
  readOnly: readonly ServerId[];
  /** Shares each server said it already holds for this storage index. */
  existing: ServerShares;
}

export interface PlacementResult {
  /** Where each share goes; a share a server already holds stays there. */
  placement: Map<ShareNum, ServerId>;
  /** Servers-of-happiness of `placement` together with every existing share. */
  happiness: number;
}

function restrict(
  servers: readonly ServerId[],
  shares: ReadonlySet<ShareNum>,
  existing: ServerShares,
): Map<ServerId, ShareNum[]> {
  const out = new Map<ServerId, ShareNum[]>();
  for (const server of servers) {
    const held = [...(existing.get(server) ?? [])].filter((s) => shares.has(s)).sort((a, b) => a - b);
    if (held.length > 0) out.set(server, held);
  }
  return out;
}

export function placeShares(input: PlacementInput): PlacementResult {
  const allShares = [...new Set(input.shares)].sort((a, b) => a - b);
  const writableSet = new Set(input.writable);
  const readOnly = input.readOnly.filter((s) => !writableSet.has(s));
  const placement = new Map<ShareNum, ServerId>();
  const usedServers = new Set<ServerId>();
  const take = (matching: Map<ShareNum, ServerId>) => {
    for (const [share, server] of matching) {
      placement.set(share, server);
      usedServers.add(server);
    }
  };
  const remainingShares = () => new Set(allShares.filter((s) => !placement.has(s)));

  // M1: shares already on read-only servers; M2: shares already on writable servers.
  take(maximumMatching(restrict(readOnly, remainingShares(), input.existing)));
  const writableLeft = () => input.writable.filter((s) => !usedServers.has(s));
  take(maximumMatching(restrict(writableLeft(), remainingShares(), input.existing)));
  // M3: the remaining writable servers × the remaining shares (complete bipartite). In
  // permuted order this pairs the i-th free server with the i-th free share.
  const free = [...remainingShares()];
  const servers = writableLeft();
  for (let i = 0; i < Math.min(free.length, servers.length); i++) {
    placement.set(free[i], servers[i]);
    usedServers.add(servers[i]);
  }

  // Homeless shares: renew where a writable server already holds one, else the writable server
  // with the fewest shares so far (earlier in permuted order on ties).
  const homeless = allShares.filter((s) => !placement.has(s));
  if (homeless.length > 0 && input.writable.length > 0) {
    const load = new Map<ServerId, number>(input.writable.map((s) => [s, 0]));
    for (const server of placement.values()) if (load.has(server)) load.set(server, load.get(server)! + 1);
    for (const share of homeless) {
      const holder = input.writable.find((s) => [...(input.existing.get(s) ?? [])].includes(share));
      let target = holder;
      if (target === undefined) {
        for (const s of input.writable)
          if (target === undefined || load.get(s)! < load.get(target)!) target = s;
      }
      placement.set(share, target!);
      load.set(target!, load.get(target!)! + 1);
    }
  }

  return { placement, happiness: happinessOf(serverSharesOf(placement, input.existing)) };
}

/** server -> shares for a placement, plus (optionally) the shares servers already hold. */
export function serverSharesOf(
  placement: ReadonlyMap<ShareNum, ServerId>,
  existing?: ServerShares,
): Map<ServerId, Set<ShareNum>> {
  const out = new Map<ServerId, Set<ShareNum>>();
  for (const [share, server] of placement) addShares(out, server, [share]);
  if (existing) for (const [server, shares] of existing) addShares(out, server, shares);
  return out;
}
