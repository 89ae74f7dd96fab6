/**
 * Choosing shareholders for an immutable upload (reference/tahoe-formats.md §6.3, steps 1-5):
 * ask the first servers of the permuted list what they hold and whether they have room, place
 * shares for happiness, allocate buckets, and place again around servers that refuse or fail.
 * The policy lives in placement.ts; this is the I/O around it.
 */
import type { Range } from '../protocol/ranges.ts';
import type { StorageServerApi, UploadSecrets } from '../protocol/storage-api.ts';
import type { ServerId, ShareNum, StorageIndex } from '../types.ts';
import { UploadUnhappinessError } from './errors.ts';
import { addShares, happinessOf } from './happiness.ts';
import { permuteServers } from './permute.ts';
import { placeShares } from './placement.ts';
import { withTimeout } from './timeout.ts';
import { cachedVersion } from './version-cache.ts';

export interface SelectionRequest {
  si: StorageIndex;
  k: number;
  happy: number;
  n: number;
  /** Bytes each share needs on a server (from the share layout). */
  allocatedSize: number;
  /** Every server the client knows; the permuted order is computed here. */
  servers: readonly StorageServerApi[];
  /** Lease + upload secrets for one server. */
  secretsFor(serverId: ServerId): UploadSecrets;
  /** How long a query may take before the server is skipped (default 15 s, as Tahoe). */
  queryTimeoutMs?: number;
}

/** The outcome: which buckets to write, and what was already in place. */
export interface Shareholders {
  /** Buckets this upload owns and must fill: server -> shares. */
  buckets: Map<StorageServerApi, Set<ShareNum>>;
  /** Shares servers already hold for this SI (they count for happiness, nothing is written). */
  held: Map<ServerId, Set<ShareNum>>;
  /**
   * Of the buckets to write, what servers already hold (an upload being resumed): server ->
   * share -> byte ranges of share data that need not be sent again.
   */
  have: Map<ServerId, Map<ShareNum, Range[]>>;
  happiness: number;
  /** Servers found (known to the client) when selection started. */
  serversFound: number;
}

interface Candidate {
  api: StorageServerApi;
  writable: boolean;
  held: Set<ShareNum>;
  allocated: Set<ShareNum>;
  /** Bytes the server holds of allocated buckets (resumed ones). */
  have: Map<ShareNum, Range[]>;
}

const addAll = <T>(set: Set<T>, items: Iterable<T>) => {
  for (const i of items) set.add(i);
};

export async function selectShareholders(req: SelectionRequest): Promise<Shareholders> {
  const timeout = req.queryTimeoutMs ?? 15_000;
  const permuted = permuteServers(req.si, req.servers);
  const shares = Array.from({ length: req.n }, (_, i) => i as ShareNum);

  // Step 1-2: the first 2N servers that answer (more are pulled in when some do not).
  const candidates: Candidate[] = [];
  let next = 0;
  while (candidates.length < 2 * req.n && next < permuted.length) {
    const batch = permuted.slice(next, next + 2 * req.n - candidates.length);
    next += batch.length;
    const answers = await Promise.allSettled(
      batch.map(async (api): Promise<Candidate> => {
        const version = await withTimeout(cachedVersion(api), timeout, 'a storage server');
        const writable =
          version.maximumImmutableShareSize >= req.allocatedSize &&
          version.availableSpace >= req.allocatedSize;
        // A writable server whose allocate answers what it holds is not listed first (as
        // Tahoe asks allocate_buckets straight away): 10 requests fewer per small file. What
        // it holds then arrives with the allocation, and placement runs again around it.
        const held =
          writable && api.allocateAnswersHeld
            ? []
            : await withTimeout(api.listShares(req.si), timeout, 'a storage server');
        return { api, writable, held: new Set(held), allocated: new Set(), have: new Map() };
      }),
    );
    for (const a of answers) if (a.status === 'fulfilled') candidates.push(a.value);
  }

  const byId = new Map(candidates.map((c) => [c.api.serverId, c]));
  const countsOf = (happiness: number) => {
    const withShares = candidates.filter((c) => c.held.size + c.allocated.size > 0);
    const placed = new Set<ShareNum>();
    for (const c of withShares) {
      addAll(placed, c.held);
      addAll(placed, c.allocated);
    }
    return {
      serversFound: req.servers.length,
      serversWithShares: withShares.length,
      sharesPlaced: placed.size,
      happiness,
      k: req.k,
      happy: req.happy,
      n: req.n,
    };
  };
  // A bucket holding bytes of an earlier try is not given back: running the upload again
  // continues it (the server sets it aside, bounded, when this connection goes).
  const giveBack = (c: Candidate, s: ShareNum) =>
    c.have.has(s) ? Promise.resolve() : c.api.abortShare(req.si, s, req.secretsFor(c.api.serverId).upload);
  const abortAll = async () => {
    await Promise.allSettled(candidates.flatMap((c) => [...c.allocated].map((s) => giveBack(c, s))));
  };

  // Steps 3-4: place, allocate, and place again while servers refuse. Each round either
  // allocates something or demotes a server, so it ends within candidates + 1 rounds.
  let placement = new Map<ShareNum, ServerId>();
  for (let round = 0; round <= candidates.length + 1; round++) {
    const live = candidates.filter((c) => byId.has(c.api.serverId));
    const existing = new Map<ServerId, Set<ShareNum>>();
    for (const c of live) existing.set(c.api.serverId, new Set([...c.held, ...c.allocated]));
    const result = placeShares({
      shares,
      writable: live.filter((c) => c.writable).map((c) => c.api.serverId),
      readOnly: live.filter((c) => !c.writable).map((c) => c.api.serverId),
      existing,
    });
    placement = result.placement;

    const asks = new Map<Candidate, ShareNum[]>();
    for (const [share, serverId] of placement) {
      const c = byId.get(serverId)!;
      if (c.held.has(share) || c.allocated.has(share)) continue;
      asks.set(c, [...(asks.get(c) ?? []), share]);
    }
    if (asks.size === 0) break;
    await Promise.all(
      [...asks].map(async ([c, want]) => {
        try {
          const r = await withTimeout(
            c.api.allocateBuckets(req.si, req.secretsFor(c.api.serverId), want, req.allocatedSize),
            timeout,
            'a storage server',
          );
          addAll(c.allocated, r.allocated);
          addAll(c.held, r.alreadyHave);
          // Shares it holds that were not asked for (never in `allocated`: those are new buckets).
          for (const s of r.held ?? []) if (!c.allocated.has(s)) c.held.add(s);
          for (const [s, ranges] of r.have ?? []) if (ranges.length > 0) c.have.set(s, ranges);
          const granted = new Set([...r.allocated, ...r.alreadyHave]);
          if (want.some((s) => !granted.has(s))) c.writable = false;
        } catch {
          // A failing server takes no further part; its granted buckets (if any) are gone.
          byId.delete(c.api.serverId);
          c.allocated.clear();
          c.held.clear();
          c.have.clear();
          c.writable = false;
        }
      }),
    );
  }

  // Step 5: write only the buckets the final placement uses; give back the others.
  const buckets = new Map<StorageServerApi, Set<ShareNum>>();
  const held = new Map<ServerId, Set<ShareNum>>();
  const have = new Map<ServerId, Map<ShareNum, Range[]>>();
  const unused: Promise<unknown>[] = [];
  for (const c of candidates) {
    if (!byId.has(c.api.serverId)) continue;
    if (c.held.size > 0) held.set(c.api.serverId, new Set(c.held));
    for (const s of c.allocated) {
      if (placement.get(s) === c.api.serverId) {
        addShares(buckets, c.api, [s]);
        const ranges = c.have.get(s);
        if (ranges) {
          let m = have.get(c.api.serverId);
          if (!m) {
            m = new Map();
            have.set(c.api.serverId, m);
          }
          m.set(s, ranges);
        }
      } else {
        unused.push(giveBack(c, s));
        c.allocated.delete(s);
      }
    }
  }
  await Promise.allSettled(unused);

  const graph = new Map<ServerId, Set<ShareNum>>();
  for (const [serverId, set] of held) addShares(graph, serverId, set);
  for (const [api, set] of buckets) addShares(graph, api.serverId, set);
  const happiness = happinessOf(graph);
  if (happiness < req.happy) {
    await abortAll();
    throw new UploadUnhappinessError(countsOf(happiness));
  }
  // Shares already in place count for this upload, so their leases are renewed (best effort).
  await Promise.allSettled(
    candidates
      .filter((c) => byId.has(c.api.serverId) && c.held.size > 0)
      .map((c) =>
        withTimeout(c.api.addLease(req.si, req.secretsFor(c.api.serverId)), timeout, 'a storage server'),
      ),
  );
  return { buckets, held, have, happiness, serversFound: req.servers.length };
}
