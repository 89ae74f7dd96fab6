/**
 * Which shares a download reads, and from which holders: the decisions, kept pure so they
 * can be tested without a network. Speed comes first: a share whose holder is clearly
 * slower than the fastest known server (by `factor`, measured over several reads, or by its
 * answer to "which shares do you hold?" before any read) is used only when nothing better
 * is left. Among servers of comparable speed, primary shares (< k) win: decoding them is a
 * copy. The shares in use are kept while they stay comparable, since a switch costs a fresh
 * hash-tree read and drops read-ahead; one that proves clearly slower is replaced by an
 * unused share whose holder is not known to be slow (Tahoe's downloader moves off slow
 * servers the same way).
 */

export interface RankingOptions {
  /** A server this many times slower than the fastest counts as clearly slower (default 4). */
  readonly factor: number;
  /** Reads a server must have served before its measured speed is trusted (default 3)... */
  readonly minSamples: number;
  /** ...together at least this many bytes (default 512 KiB): small reads measure latency. */
  readonly minBytes: number;
  /** Answers to the share query within this many ms of the fastest are comparable (default 25). */
  readonly rttSlackMs: number;
  /**
   * Read costs below this (ms per MiB) count as this: at ~13 MiB/s or more a server is
   * fast enough, and noise between fast servers (a busy client delays every answer) must
   * not cause switches. Single reads of fast servers on a busy 2-core machine measured
   * 15-400 ms/MiB; so "clearly slow" starts at factor x 75 ms/MiB (3.3 MiB/s at 4).
   */
  readonly costFloor: number;
}

export const DEFAULT_RANKING: RankingOptions = {
  factor: 4,
  minSamples: 3,
  minBytes: 512 * 1024,
  rttSlackMs: 25,
  costFloor: 75,
};

/** Reads remembered per server: its speed is their bytes over their time. */
export const COST_SAMPLES = 5;
/** Reads shorter than this measure latency more than speed, and are not sampled. */
export const MIN_SAMPLE_BYTES = 16 * 1024;

/** What is known about one server's speed. */
export interface Speed {
  /** Ms from the share query to its answer; undefined while it has not answered. */
  readonly rttMs?: number;
  /** Recent reads, oldest first, at most COST_SAMPLES. */
  readonly reads: readonly ReadSample[];
}

/** One timed read: how long the server spent on it, and how many bytes it sent. */
export interface ReadSample {
  readonly ms: number;
  readonly bytes: number;
}

/** The samples with a new one added (the oldest dropped beyond COST_SAMPLES). */
export function addRead(reads: readonly ReadSample[], r: ReadSample): ReadSample[] {
  const out = [...reads, r];
  return out.length > COST_SAMPLES ? out.slice(out.length - COST_SAMPLES) : out;
}

/**
 * Ms per MiB over the recent reads (their total time over their total bytes, so a small
 * read's latency weighs little), at least costFloor; undefined until minSamples reads of
 * minBytes in all.
 */
export function measuredCost(s: Speed, opts: RankingOptions = DEFAULT_RANKING): number | undefined {
  if (s.reads.length < Math.max(1, opts.minSamples)) return undefined;
  let ms = 0;
  let bytes = 0;
  for (const r of s.reads) {
    ms += r.ms;
    bytes += r.bytes;
  }
  return bytes > 0 && bytes >= opts.minBytes ? Math.max(opts.costFloor, (ms * 1048576) / bytes) : undefined;
}

/** The fastest measured cost and the fastest answer among `speeds`: what "clearly slower" is relative to. */
export interface Reference {
  readonly cost?: number;
  readonly rttMs?: number;
}

export function reference(speeds: Iterable<Speed>, opts: RankingOptions = DEFAULT_RANKING): Reference {
  let cost: number | undefined;
  let rttMs: number | undefined;
  for (const s of speeds) {
    const c = measuredCost(s, opts);
    if (c !== undefined && (cost === undefined || c < cost)) cost = c;
    if (s.rttMs !== undefined && (rttMs === undefined || s.rttMs < rttMs)) rttMs = s.rttMs;
  }
  return { cost, rttMs };
}

/**
 * 0: fast, or not known to be slow. 1: its share-query answer was clearly slow and no read
 * says otherwise yet. 2: its reads were clearly slow. 3: no holder known.
 */
export type Tier = 0 | 1 | 2 | 3;

export function tierOf(s: Speed | undefined, ref: Reference, opts: RankingOptions = DEFAULT_RANKING): Tier {
  if (!s) return 3;
  const c = measuredCost(s, opts);
  // Reads say more than one small answer: a measured server is judged by its reads alone.
  if (c !== undefined) return ref.cost !== undefined && c > opts.factor * ref.cost ? 2 : 0;
  if (s.rttMs === undefined) return 3;
  if (ref.rttMs !== undefined && s.rttMs > opts.factor * ref.rttMs + opts.rttSlackMs) return 1;
  return 0;
}

/** A share the decoder may still use, with the holder it would be read from. */
export interface ShareOption {
  readonly shnum: number;
  /** Identifies the holder; undefined while no live holder is known. */
  readonly server?: string;
  readonly speed?: Speed;
}

/**
 * Every option's share number, best first: the first k are the shares to read the next
 * segment from. `current` is what the previous call chose (empty at first); it is kept
 * except for shares that are gone and members measured clearly slow, each of which is
 * swapped for the best unused share on a server not already in use that is not known to be
 * slow. Distinct servers are preferred throughout: two shares on one server share its speed.
 */
export function chooseShares(
  options: readonly ShareOption[],
  k: number,
  current: readonly number[],
  opts: RankingOptions = DEFAULT_RANKING,
): number[] {
  const ref = reference(
    options.flatMap((o) => (o.speed ? [o.speed] : [])),
    opts,
  );
  const ranked = options.map((o) => ({
    o,
    tier: tierOf(o.server === undefined ? undefined : o.speed, ref, opts),
    cost: o.speed ? measuredCost(o.speed, opts) : undefined,
  }));
  type Ranked = (typeof ranked)[number];
  ranked.sort(
    (a, b) =>
      a.tier - b.tier ||
      Number(a.o.shnum >= k) - Number(b.o.shnum >= k) ||
      (a.cost ?? opts.costFloor) - (b.cost ?? opts.costFloor) ||
      (a.o.speed?.rttMs ?? Number.POSITIVE_INFINITY) - (b.o.speed?.rttMs ?? Number.POSITIVE_INFINITY) ||
      a.o.shnum - b.o.shnum,
  );
  const byShnum = new Map(ranked.map((r) => [r.o.shnum, r]));
  const keep: Ranked[] = [];
  for (const s of current) {
    const r = byShnum.get(s);
    if (r && !keep.includes(r) && keep.length < k) keep.push(r);
  }
  const serverInUse = (server: string | undefined) =>
    server !== undefined && keep.some((x) => x.o.server === server);

  // Members whose reads proved clearly slow give way to a share on another server, slowest first.
  const slow = keep.filter((r) => r.tier === 2).sort((a, b) => (b.cost ?? 0) - (a.cost ?? 0));
  for (const m of slow) {
    const sub = ranked.find((r) => r.tier === 0 && !keep.includes(r) && !serverInUse(r.o.server));
    if (!sub) break;
    keep[keep.indexOf(m)] = sub;
  }
  // Fill up (at first, or after shares were given up on): servers not known slow and not
  // already in use first, then simply the best of the rest.
  for (const r of ranked) {
    if (keep.length >= k) break;
    if (!keep.includes(r) && r.tier <= 1 && !serverInUse(r.o.server)) keep.push(r);
  }
  for (const r of ranked) {
    if (keep.length >= k) break;
    if (!keep.includes(r)) keep.push(r);
  }
  const chosen = ranked.filter((r) => keep.includes(r));
  return [...chosen, ...ranked.filter((r) => !keep.includes(r))].map((r) => r.o.shnum);
}

/** A holder of one share. */
export interface HolderOption {
  readonly server: string;
  readonly speed: Speed;
}

/**
 * Index of the holder to read a share from next: `current` while no other is in a better
 * tier (switching holders of a share is cheap but pointless between comparable servers),
 * else the best-tier holder, the faster measured, the quicker answer.
 */
export function pickHolder(
  holders: readonly HolderOption[],
  ref: Reference,
  current: string | undefined,
  opts: RankingOptions = DEFAULT_RANKING,
): number {
  if (holders.length === 0) return -1;
  const key = holders.map((h, i) => ({
    i,
    tier: tierOf(h.speed, ref, opts),
    cost: measuredCost(h.speed, opts) ?? opts.costFloor,
    rtt: h.speed.rttMs ?? Number.POSITIVE_INFINITY,
  }));
  const best = [...key].sort((a, b) => a.tier - b.tier || a.cost - b.cost || a.rtt - b.rtt || a.i - b.i)[0];
  const cur = key.find((x) => holders[x.i].server === current);
  return cur && cur.tier <= best.tier ? cur.i : best.i;
}

/**
 * Per-server read timing. A read's cost is the time the server spent on it: from when it
 * was asked, or from when the server's previous answer arrived if that was later (requests
 * queue behind each other on one connection, so the wait behind earlier ones is not this
 * one's cost).
 */
export class ReadMeter {
  #lastDone = Number.NEGATIVE_INFINITY;
  reads: ReadSample[] = [];

  /** Record a read of `bytes` asked at `startedMs` and answered at `nowMs`. */
  finished(startedMs: number, nowMs: number, bytes: number): void {
    const ms = nowMs - Math.max(startedMs, this.#lastDone);
    this.#lastDone = Math.max(this.#lastDone, nowMs);
    if (bytes >= MIN_SAMPLE_BYTES && ms >= 0) this.reads = addRead(this.reads, { ms, bytes });
  }
}
