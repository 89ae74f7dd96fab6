/**
 * Lease expiry, after Tahoe's storage/expirer.py and docs/garbage-collection.rst: which
 * leases count as expired, and what one storage index's turn in the lease crawler
 * (crawler.ts) finds and does. Garbage collection is deletion only:
 *
 *  - a share whose every lease has expired (under the configured mode) is deleted, unless an
 *    upload of the same storage index and share number is in progress;
 *  - a share with one live lease is kept, and so is anything in doubt: a share with no lease
 *    record at all (our server never makes one, so it is not ours to judge) and a share whose
 *    container cannot be read.
 *
 * Expired leases on a share that is kept are left in place, where Tahoe cancels them. They
 * are harmless (a share lives while any lease does; at the cap of 64 a new lease replaces the
 * one that expires first, which is an expired one), while rewriting an immutable share's
 * lease records in place could, if the machine crashed half way, lose a live lease and with
 * it the share. They are counted as expired each time they are examined.
 *
 * Modes (Tahoe's `expire.mode`), each judging a lease by when it was granted or last renewed.
 * Our leases, like Tahoe's, store only an expiry time, always set to grant + 31 days, so the
 * grant time is derived as expiry − 31 days, as Tahoe's get_grant_renew_time_time does.
 *  - `age`:             by each lease's own expiry time (Tahoe's age mode with no override);
 *  - `age:DURATION`:    expired when granted/renewed more than DURATION ago (Tahoe's
 *                       expire.override_lease_duration);
 *  - `cutoff-date:DATE` expired when granted/renewed before DATE (YYYY-MM-DD, midnight UTC).
 * Without a mode the crawler still runs and counts, by each lease's own expiry, and deletes
 * nothing; a dry run counts under the mode and deletes nothing.
 */
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { ShareBackend } from './backends/backend.ts';
import {
  decodeImmutableLeases,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  immutableLayout,
} from './containers.ts';
import type { MutableSlots } from './mutable-slots.ts';
import { siPrefix } from './si.ts';

/** The life of a lease from its grant or renewal (storage-server.ts LEASE_DURATION_MS, in seconds). */
export const LEASE_SECONDS = 31 * 24 * 3600;

const DAY = 24 * 3600;

export type ExpiryMode =
  /** `seconds` null: each lease's own expiry time. */
  | { kind: 'age'; seconds: number | null }
  /** `cutoff` in seconds since the epoch (midnight UTC starting the date given). */
  | { kind: 'cutoff-date'; cutoff: number };

export interface ExpiryConfig {
  /** null: expiry is off; the crawler only counts (judging leases by their own expiry times). */
  mode: ExpiryMode | null;
  /** Count what the mode would delete, delete nothing. */
  dryRun: boolean;
}

/** What one storage index's examination is told. */
export interface ExpiryPolicy {
  mode: ExpiryMode | null;
  /** Delete shares found expired (false: count them only). */
  delete: boolean;
  nowSecs: number;
}

/** Tahoe's time units (util/time_format.py parse_duration), and a few short forms besides. */
const UNITS: Record<string, number> = {
  s: 1,
  second: 1,
  seconds: 1,
  day: DAY,
  days: DAY,
  mo: 31 * DAY,
  month: 31 * DAY,
  months: 31 * DAY,
  year: 365 * DAY,
  years: 365 * DAY,
  // Not Tahoe's, but unambiguous (there is no bare `m`: minutes or months?).
  h: 3600,
  hour: 3600,
  hours: 3600,
  d: DAY,
  w: 7 * DAY,
  week: 7 * DAY,
  weeks: 7 * DAY,
};

/**
 * A duration such as "30days", "2 mo", "1year", "3600s", "2w" in seconds, as Tahoe parses
 * them (a whole number, optional spaces, a unit, case ignored; a month is 31 days, a year
 * 365). Throws an Error naming the accepted forms.
 */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+)\s*([a-z]+)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(
      `'${text}' is not a duration: a whole number and a unit, e.g. 30days, 2mo, 1year, 3600s ` +
        '(units: s, second(s), h, hour(s), d, day(s), w, week(s), mo, month(s), year(s))',
    );
  }
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) throw new Error(`'${text}' is too long a duration`);
  return n;
}

/** YYYY-MM-DD as seconds since the epoch at the midnight UTC that starts it (Tahoe's parse_date). */
export function parseCutoffDate(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const ms = Date.UTC(y, mo - 1, d);
    const back = new Date(ms);
    // Date.UTC rolls 2024-02-30 over into March: a date that does not come back is not a date.
    if (back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d)
      return ms / 1000;
  }
  throw new Error(`'${text}' is not a date: give YYYY-MM-DD (midnight UTC starts it), e.g. 2025-01-31`);
}

/** `age`, `age:DURATION` or `cutoff-date:YYYY-MM-DD`. */
export function parseExpiryMode(text: string): ExpiryMode {
  const t = text.trim();
  if (t === 'age') return { kind: 'age', seconds: null };
  if (t.startsWith('age:')) {
    const seconds = parseDuration(t.slice(4));
    if (seconds <= 0)
      throw new Error('an age of 0 would expire every lease at once; give a positive duration');
    return { kind: 'age', seconds };
  }
  if (t.startsWith('cutoff-date:')) return { kind: 'cutoff-date', cutoff: parseCutoffDate(t.slice(12)) };
  throw new Error(
    `'${text}' is not an expiry mode: give age, age:DURATION (e.g. age:60days) or cutoff-date:YYYY-MM-DD`,
  );
}

/** The mode as `parseExpiryMode` reads it back ("off" for none). */
export function modeText(mode: ExpiryMode | null): string {
  if (mode === null) return 'off';
  if (mode.kind === 'cutoff-date')
    return `cutoff-date:${new Date(mode.cutoff * 1000).toISOString().slice(0, 10)}`;
  if (mode.seconds === null) return 'age';
  return mode.seconds % DAY === 0 ? `age:${mode.seconds / DAY}days` : `age:${mode.seconds}s`;
}

/** Whether a lease with expiry time `expires` (seconds) counts as expired at `nowSecs`. */
export function leaseExpired(expires: number, mode: ExpiryMode | null, nowSecs: number): boolean {
  if (mode === null || (mode.kind === 'age' && mode.seconds === null)) return expires <= nowSecs;
  const granted = expires - LEASE_SECONDS;
  if (mode.kind === 'age') return nowSecs - granted > (mode.seconds as number);
  return granted < mode.cutoff;
}

// ---- figures ----------------------------------------------------------------------------

export interface KindFigures {
  shares: number;
  /** Bytes of the share files (containers: data, header and leases). */
  bytes: number;
}

export interface ShareFigures {
  immutable: KindFigures;
  mutable: KindFigures;
}

/** What a crawl found, for one storage index or summed over a cycle. */
export interface CrawlCounts {
  storageIndexes: number;
  /** Every share looked at, and its lease records. */
  examined: ShareFigures & { leases: number };
  /** Leases expired under the mode (left in place on shares that are kept). */
  expiredLeases: number;
  /** Shares with no live lease that nothing holds: what the mode deletes (or would, in a dry run). */
  expired: ShareFigures;
  /** Shares deleted (none in a dry run or with expiry off). */
  deleted: ShareFigures;
  /** Shares whose leases all expired that were kept all the same, and why. */
  kept: {
    /** An upload of the same storage index and share number is in progress. */
    uploading: number;
    /** No lease record at all. */
    withoutLeases: number;
    /** The container could not be read. */
    unreadable: number;
  };
}

export function zeroCounts(): CrawlCounts {
  const figures = (): ShareFigures => ({
    immutable: { shares: 0, bytes: 0 },
    mutable: { shares: 0, bytes: 0 },
  });
  return {
    storageIndexes: 0,
    examined: { ...figures(), leases: 0 },
    expiredLeases: 0,
    expired: figures(),
    deleted: figures(),
    kept: { uploading: 0, withoutLeases: 0, unreadable: 0 },
  };
}

/** Adds `b` into `a` (every number, at any depth). */
export function addCounts(a: CrawlCounts, b: CrawlCounts): CrawlCounts {
  const add = (x: Record<string, unknown>, y: Record<string, unknown>) => {
    for (const k of Object.keys(x)) {
      if (typeof x[k] === 'number') x[k] = (x[k] as number) + ((y[k] as number) ?? 0);
      else if (x[k] && typeof x[k] === 'object' && y[k])
        add(x[k] as Record<string, unknown>, y[k] as Record<string, unknown>);
    }
  };
  add(a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>);
  return a;
}

export function totalOf(f: ShareFigures): KindFigures {
  return { shares: f.immutable.shares + f.mutable.shares, bytes: f.immutable.bytes + f.mutable.bytes };
}

/** Whether `v` has the shape of CrawlCounts (a state file read back). */
export function isCrawlCounts(v: unknown): v is CrawlCounts {
  const shape = (x: unknown, model: unknown): boolean => {
    if (typeof model === 'number') return typeof x === 'number' && Number.isFinite(x) && x >= 0;
    if (!x || typeof x !== 'object') return false;
    return Object.keys(model as object).every((k) =>
      shape((x as Record<string, unknown>)[k], (model as Record<string, unknown>)[k]),
    );
  };
  return shape(v, zeroCounts());
}

// ---- one storage index ------------------------------------------------------------------

/** What the examination needs of the server (storage-server.ts gives it, holding the SI's lock). */
export interface ExpiryHost {
  backend: ShareBackend;
  mutable: MutableSlots;
  /** An upload of this immutable share is in progress (allocated, not closed). */
  uploadInProgress(si: StorageIndex, sh: ShareNum): boolean;
  /** The share is about to be deleted: stop serving it from cached handles. */
  forgetReader(si: StorageIndex, sh: ShareNum): void;
  log(line: string): void;
}

/** A share's verdict, given its lease expiry times (null: unreadable). */
export type Verdict = 'live' | 'expired' | 'uploading' | 'withoutLeases' | 'unreadable';

export function judgeShare(
  expiries: number[] | null,
  policy: ExpiryPolicy,
  uploading: boolean,
): { verdict: Verdict; expiredLeases: number } {
  if (expiries === null) return { verdict: 'unreadable', expiredLeases: 0 };
  const expiredLeases = expiries.filter((e) => leaseExpired(e, policy.mode, policy.nowSecs)).length;
  if (expiries.length === 0) return { verdict: 'withoutLeases', expiredLeases };
  if (expiredLeases < expiries.length) return { verdict: 'live', expiredLeases };
  // An upload of this very share would be lost with it, or find its place taken: keep it.
  if (uploading) return { verdict: 'uploading', expiredLeases };
  return { verdict: 'expired', expiredLeases };
}

/** Adds one share's verdict to `c`. */
export function tally(
  c: CrawlCounts,
  kind: 'immutable' | 'mutable',
  bytes: number,
  leases: number,
  j: { verdict: Verdict; expiredLeases: number },
  deleted: boolean,
): void {
  c.examined[kind].shares++;
  c.examined[kind].bytes += bytes;
  c.examined.leases += leases;
  c.expiredLeases += j.expiredLeases;
  if (j.verdict === 'expired') {
    c.expired[kind].shares++;
    c.expired[kind].bytes += bytes;
  }
  if (deleted) {
    c.deleted[kind].shares++;
    c.deleted[kind].bytes += bytes;
  }
  if (j.verdict === 'uploading') c.kept.uploading++;
  if (j.verdict === 'withoutLeases') c.kept.withoutLeases++;
  if (j.verdict === 'unreadable') c.kept.unreadable++;
}

/**
 * One storage index's turn: every share of both kinds judged, and (with `policy.delete`)
 * the expired ones deleted; mutable ones through the slot's journal. Caller holds the
 * storage index's exclusive lock.
 */
export async function examineStorageIndex(
  host: ExpiryHost,
  si: StorageIndex,
  policy: ExpiryPolicy,
): Promise<CrawlCounts> {
  const c = zeroCounts();
  c.storageIndexes = 1;
  for (const sh of await host.backend.listShares('immutable', si)) {
    let bytes = 0;
    let expiries: number[] | null = null;
    try {
      const f = await host.backend.openShare('immutable', si, sh, false);
      if (!f) continue; // gone since it was listed
      bytes = await f.size();
      const layout = immutableLayout(await f.read(0, IMMUTABLE_HEADER_BYTES), bytes);
      const records = await f.read(layout.leaseOffset, layout.leaseCount * IMMUTABLE_LEASE_BYTES);
      // A lease record is made durable before the count that includes it: a count beyond the
      // records is damage, not a share without leases.
      if (records.length !== layout.leaseCount * IMMUTABLE_LEASE_BYTES)
        throw new Error('lease records are cut short');
      expiries = decodeImmutableLeases(records).map((l) => l.expires);
    } catch (err) {
      host.log(
        `lease crawler: cannot read immutable share ${sh} of si=${siPrefix(si)}: ${(err as Error).message}; kept`,
      );
    }
    const j = judgeShare(expiries, policy, host.uploadInProgress(si, sh));
    const del = j.verdict === 'expired' && policy.delete;
    if (del) {
      host.forgetReader(si, sh);
      await host.backend.deleteShare('immutable', si, sh);
    }
    tally(c, 'immutable', bytes, expiries?.length ?? 0, j, del);
  }
  try {
    addCounts(c, await host.mutable.expire(si, policy, (sh) => host.uploadInProgress(si, sh)));
  } catch (err) {
    // E.g. a journal that cannot be replayed yet: the slot is left as it is, to the next cycle.
    host.log(
      `lease crawler: cannot examine the mutable shares of si=${siPrefix(si)}: ${(err as Error).message}`,
    );
    c.kept.unreadable++;
  }
  c.storageIndexes = 1;
  const gone = totalOf(c.deleted);
  if (gone.shares > 0) {
    host.log(`lease expiry: deleted ${gone.shares} share(s) of si=${siPrefix(si)} (${gone.bytes} bytes)`);
  }
  return c;
}
