/**
 * The lease crawler, after Tahoe's storage/crawler.py and expirer.py: it walks every storage
 * index in a stable order, a bounded amount at a time, asks the server to judge each one
 * (expiry.ts: count its shares, delete those with no live lease when expiry is on), and keeps
 * its place on disk so that a restart carries on where it was.
 *
 * Order: Tahoe's 1024 two-character prefix folders, sorted as strings ('22' … '27', '2a' …
 * 'zz'), and within one prefix the storage indexes by base32 name. The cursor is (prefix
 * number, last name done in it): everything before it is done this cycle. When the walk
 * reaches the end the cycle is over; the next starts from the beginning `minCycleMs` after
 * this one started.
 *
 * Pace (Tahoe's slow_start, cpu_slice, allowed_cpu_percentage): the first step waits
 * `startDelayMs` after start (the server comes up unhindered). A step works at most
 * `sliceMs` by the clock and at most `perSlice` storage indexes, then pauses so that
 *  - work is at most `busyFraction` of the time: pause ≥ work × (1 − f) / f, and
 *  - steps start at least n / perSecond seconds apart after examining n storage indexes,
 * which bounds the storage indexes examined in any span of D seconds by perSecond × D plus
 * one step's worth, whatever the disk's speed (a fast disk would otherwise let 10 % of the
 * time cover millions of shares).
 *
 * State file (JSON, `format` "cairn lease crawler state v1"), replaced atomically (written
 * to a temporary name, fsynced, renamed over, folder fsynced) after every step, and at once
 * after a storage index where shares were deleted, so a kill loses at most one step's work
 * (done again after the restart, and counted once: the figures are saved with the cursor):
 *   { format, cycle (number of the cycle in progress or last finished; 0: none yet),
 *     inProgress, cycleStartedAt (ms), cursor: {prefix (0..1024), after (base32 name | null)},
 *     mode (the expiry settings the cycle ran under), cycleToDate (CrawlCounts),
 *     lastCycle: {cycle, startedAt, finishedAt, mode, counts} | null }
 * A state file that cannot be read is reported and replaced by a fresh start: the crawl is
 * redone, nothing else is lost.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../core/primitives/base32.ts';
import type { StorageIndex } from '../core/types.ts';
import {
  addCounts,
  type CrawlCounts,
  type ExpiryConfig,
  type ExpiryPolicy,
  isCrawlCounts,
  LEASE_SECONDS,
  modeText,
  totalOf,
  zeroCounts,
} from './expiry.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** Tahoe's prefix folders in the order Tahoe walks them (sorted as strings). */
export const PREFIXES: readonly string[] = [...ALPHABET]
  .flatMap((a) => [...ALPHABET].map((b) => a + b))
  .sort();

export interface CrawlerPace {
  /** The first step waits this long after start (Tahoe's slow_start: 300 s). */
  startDelayMs: number;
  /** A step works at most this long by the clock (Tahoe's cpu_slice). */
  sliceMs: number;
  /** Work takes at most this fraction of the time (Tahoe's allowed_cpu_percentage). */
  busyFraction: number;
  /** Storage indexes examined per second at most, however fast the disk answers. */
  perSecond: number;
  /** Cycles start at least this far apart (Tahoe's minimum_cycle_time). */
  minCycleMs: number;
  /** A pause within a cycle lasts at most this long (Tahoe: 299 s), so a cycle always moves. */
  maxPauseMs: number;
}

export const DEFAULT_PACE: CrawlerPace = {
  startDelayMs: 300_000,
  sliceMs: 100,
  busyFraction: 0.1,
  perSecond: 100,
  minCycleMs: 3600_000,
  maxPauseMs: 299_000,
};

/** What the crawler walks: the storage server (storage-server.ts). */
export interface CrawlTarget {
  storageIndexesIn(prefix: string): Promise<StorageIndex[]>;
  examineStorageIndex(si: StorageIndex, policy: ExpiryPolicy): Promise<CrawlCounts>;
}

export interface LeaseCrawlerOptions {
  target: CrawlTarget;
  /** The cursor and figures, replaced atomically (DIR/storage/lease-crawler.json). */
  statePath: string;
  /** The status for operators, replaced after every step (DIR/storage/status.json); none if absent. */
  statusPath?: string;
  expiry: ExpiryConfig;
  pace?: Partial<CrawlerPace>;
  /** Milliseconds since the epoch (injected for tests). */
  now?: () => number;
  /** Runs `fn` after `ms` and returns a cancel function (default: an unref'd timer; injected for tests). */
  schedule?: (ms: number, fn: () => Promise<void>) => () => void;
  /** Bytes the server can still take, for the status. */
  availableSpace?: () => Promise<number>;
  log?: (line: string) => void;
}

const FORMAT = 'cairn lease crawler state v1';
const SI_NAME = /^[a-z2-7]{26}$/;

interface Cursor {
  /** Index in PREFIXES of the prefix being walked (PREFIXES.length: past the end). */
  prefix: number;
  /** Base32 name of the last storage index done in it, or null. */
  after: string | null;
}

export interface CycleRecord {
  cycle: number;
  startedAt: number;
  finishedAt: number;
  mode: string;
  counts: CrawlCounts;
}

export interface CrawlerState {
  format: typeof FORMAT;
  cycle: number;
  inProgress: boolean;
  cycleStartedAt: number | null;
  cursor: Cursor;
  mode: string;
  cycleToDate: CrawlCounts;
  lastCycle: CycleRecord | null;
}

/** The crawler's status (GET /v1/status, DIR/storage/status.json). Times are ISO strings. */
export interface CrawlerStatus {
  updatedAt: string;
  expiry: { mode: string; dryRun: boolean; deletes: boolean };
  crawler: {
    state: 'waiting to start' | 'working' | 'pausing' | 'between cycles' | 'stopped';
    cycle: number;
    cycleInProgress: boolean;
    cycleStartedAt: string | null;
    progress: { prefix: string | null; prefixesDone: number; prefixes: number; percent: number } | null;
    nextStepAt: string | null;
    /** Storage indexes this process examined (a restart that resumed examines only the rest). */
    examinedSinceStart: number;
    pace: CrawlerPace;
  };
  cycleToDate: CrawlCounts | null;
  lastCycle:
    | (Omit<CycleRecord, 'startedAt' | 'finishedAt'> & { startedAt: string; finishedAt: string })
    | null;
  space: {
    /** Bytes of share files as the last whole cycle found them, less what it deleted. */
    usedByShares: number | null;
    usedAsOf: string | null;
    reclaimedThisCycle: number;
    reclaimedLastCycle: number | null;
    available: number | null;
  };
}

function freshState(mode: string): CrawlerState {
  return {
    format: FORMAT,
    cycle: 0,
    inProgress: false,
    cycleStartedAt: null,
    cursor: { prefix: 0, after: null },
    mode,
    cycleToDate: zeroCounts(),
    lastCycle: null,
  };
}

/** The state in `text`, or why it is not usable. */
export function parseCrawlerState(text: string): CrawlerState | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const s = v as Partial<CrawlerState> | null;
  if (!s || typeof s !== 'object' || s.format !== FORMAT) return `not a "${FORMAT}" file`;
  const time = (t: unknown) => typeof t === 'number' && Number.isFinite(t);
  if (!Number.isSafeInteger(s.cycle) || (s.cycle as number) < 0) return 'bad cycle number';
  if (typeof s.inProgress !== 'boolean') return 'bad inProgress';
  if (s.cycleStartedAt !== null && !time(s.cycleStartedAt)) return 'bad cycleStartedAt';
  const c = s.cursor;
  if (!c || !Number.isInteger(c.prefix) || c.prefix < 0 || c.prefix > PREFIXES.length) return 'bad cursor';
  if (
    c.after !== null &&
    (typeof c.after !== 'string' || !SI_NAME.test(c.after) || !c.after.startsWith(PREFIXES[c.prefix]))
  )
    return 'bad cursor';
  if (typeof s.mode !== 'string' || !isCrawlCounts(s.cycleToDate)) return 'bad figures';
  const l = s.lastCycle;
  if (l !== null) {
    if (!l || !Number.isSafeInteger(l.cycle) || !time(l.startedAt) || !time(l.finishedAt))
      return 'bad lastCycle';
    if (typeof l.mode !== 'string' || !isCrawlCounts(l.counts)) return 'bad lastCycle';
  }
  return s as CrawlerState;
}

/** Replaces `file` by `text` all at once; `durable`: fsynced, and the rename too. */
async function writeAtomically(file: string, text: string, durable: boolean): Promise<void> {
  const tmp = `${file}.tmp`;
  const h = await fs.open(tmp, 'w', 0o600);
  try {
    await h.writeFile(text);
    if (durable) await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, file);
  if (durable) {
    const d = await fs.open(path.dirname(file), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

const defaultSchedule = (ms: number, fn: () => Promise<void>) => {
  const t = setTimeout(() => void fn(), ms);
  t.unref?.();
  return () => clearTimeout(t);
};

interface Listing {
  prefix: number;
  entries: Array<{ si: StorageIndex; name: string }>;
  next: number;
}

export class LeaseCrawler {
  readonly pace: CrawlerPace;
  /** Storage indexes a step examines at most (perSecond × one step's share of a second's work). */
  readonly perSlice: number;
  private readonly now: () => number;
  private readonly schedule: (ms: number, fn: () => Promise<void>) => () => void;
  private readonly log: (line: string) => void;
  private readonly modeLabel: string;
  private state: CrawlerState;
  private listing: Listing | null = null;
  private cancel: (() => void) | null = null;
  private running: Promise<number> | null = null;
  private started = false;
  private stopping = false;
  private stepped = false;
  private nextStepAt: number | null = null;
  private examinedSinceStart = 0;
  private saveFailing = false;

  constructor(private readonly o: LeaseCrawlerOptions) {
    this.pace = { ...DEFAULT_PACE, ...o.pace };
    const p = this.pace;
    if (!(p.busyFraction > 0 && p.busyFraction <= 1)) throw new RangeError('busyFraction must be in (0, 1]');
    if (!(p.perSecond > 0) || !(p.sliceMs > 0))
      throw new RangeError('perSecond and sliceMs must be positive');
    if (p.sliceMs / p.busyFraction > p.maxPauseMs)
      throw new RangeError('maxPauseMs is shorter than one step period');
    this.perSlice = Math.max(1, Math.floor((p.perSecond * p.sliceMs) / (1000 * p.busyFraction)));
    this.now = o.now ?? Date.now;
    this.schedule = o.schedule ?? defaultSchedule;
    this.log = o.log ?? (() => {});
    this.modeLabel = `${modeText(o.expiry.mode)}${o.expiry.mode && o.expiry.dryRun ? ' (dry run)' : ''}`;
    this.state = freshState(this.modeLabel);
  }

  /** Reads the state file (a cycle in progress resumes at its cursor) and arms the first step. */
  async start(): Promise<void> {
    if (this.started) throw new Error('the lease crawler is already started');
    this.started = true;
    this.state = await this.load();
    const s = this.state;
    const what =
      this.o.expiry.mode === null
        ? 'counting shares and leases (lease expiry is off)'
        : `expiring leases by ${this.modeLabel}${this.o.expiry.dryRun ? ': counting what would be deleted' : ''}`;
    this.log(`lease crawler: ${what}; at most ${this.pace.perSecond} storage indexes a second`);
    const m = this.o.expiry.mode;
    if (m?.kind === 'age' && m.seconds !== null && m.seconds < LEASE_SECONDS) {
      this.log(
        `lease crawler: note: ${modeText(m)} expires leases sooner than the 31 days clients are promised; ` +
          'the shares of clients that renew less often are deleted',
      );
    }
    if (s.inProgress) {
      this.log(
        `lease crawler: resuming cycle ${s.cycle} at prefix ${PREFIXES[s.cursor.prefix] ?? 'end'} ` +
          `(${s.cursor.prefix} of ${PREFIXES.length} prefixes, ${s.cycleToDate.storageIndexes} storage indexes done)`,
      );
      if (s.mode !== this.modeLabel) {
        this.log(
          `lease crawler: the expiry settings changed mid-cycle (${s.mode} before, ${this.modeLabel} now)`,
        );
        s.mode = `${s.mode}, then ${this.modeLabel}`;
      }
    }
    this.arm(this.pace.startDelayMs);
  }

  /** Stops after the step in progress (whose work is saved); nothing runs afterwards. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cancel?.();
    this.cancel = null;
    this.nextStepAt = null;
    await this.running?.catch(() => {});
  }

  private async load(): Promise<CrawlerState> {
    let text: string;
    try {
      text = await fs.readFile(this.o.statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log(
          `lease crawler: cannot read ${this.o.statePath} (${(err as Error).message}); starting afresh`,
        );
      }
      return freshState(this.modeLabel);
    }
    const s = parseCrawlerState(text);
    if (typeof s === 'string') {
      this.log(`lease crawler: ${this.o.statePath} is unusable (${s}); starting afresh`);
      return freshState(this.modeLabel);
    }
    return s;
  }

  private arm(ms: number): void {
    if (this.stopping) return;
    const wait = Math.max(0, Math.ceil(ms));
    this.nextStepAt = this.now() + wait;
    this.cancel = this.schedule(wait, () => this.run());
  }

  private async run(): Promise<void> {
    this.cancel = null;
    this.nextStepAt = null;
    if (this.stopping) return;
    this.running = this.step().catch((err) => {
      this.log(`lease crawler: step failed: ${(err as Error).message}`);
      return 60_000;
    });
    const pause = await this.running;
    this.running = null;
    this.arm(pause);
  }

  /** When the next cycle may start (a clock set back cannot hold it off more than minCycleMs). */
  private nextCycleAt(now: number): number {
    const last = this.state.lastCycle;
    if (!last) return now;
    return Math.min(last.startedAt + this.pace.minCycleMs, now + this.pace.minCycleMs);
  }

  /** One step: up to `perSlice` storage indexes or `sliceMs` of work; returns the pause before the next. */
  async step(): Promise<number> {
    const pace = this.pace;
    const start = this.now();
    this.stepped = true;
    if (!this.state.inProgress) {
      const due = this.nextCycleAt(start);
      if (start < due) return due - start;
      this.beginCycle(start);
    }
    const outOfTime = () => this.now() - start >= pace.sliceMs;
    let done = 0;
    let finished = false;
    while (!this.stopping) {
      const next = await this.nextStorageIndex(outOfTime);
      if (next === 'end') {
        finished = true;
        break;
      }
      if (next === 'yield') break;
      const counts = await this.examine(next.si);
      addCounts(this.state.cycleToDate, counts);
      this.state.cursor.after = next.name;
      this.examinedSinceStart++;
      done++;
      // What was deleted is on record at once: a kill now does not lose it from the figures.
      if (totalOf(counts.deleted).shares > 0) await this.save();
      if (done >= this.perSlice || outOfTime()) break;
    }
    const end = this.now();
    if (finished) this.finishCycle(end);
    await this.save();
    const work = Math.max(0, end - start);
    const f = pace.busyFraction;
    let pause = Math.max((work * (1 - f)) / f, (done * 1000) / pace.perSecond - work);
    pause = Math.min(pause, pace.maxPauseMs);
    if (finished) pause = Math.max(pause, this.nextCycleAt(end) - end);
    return Math.max(0, pause);
  }

  private beginCycle(now: number): void {
    const s = this.state;
    s.cycle++;
    s.inProgress = true;
    s.cycleStartedAt = now;
    s.cursor = { prefix: 0, after: null };
    s.mode = this.modeLabel;
    s.cycleToDate = zeroCounts();
    this.listing = null;
    this.log(`lease crawler: cycle ${s.cycle} started`);
  }

  private finishCycle(now: number): void {
    const s = this.state;
    const counts = s.cycleToDate;
    s.lastCycle = {
      cycle: s.cycle,
      startedAt: s.cycleStartedAt ?? now,
      finishedAt: now,
      mode: s.mode,
      counts,
    };
    s.inProgress = false;
    s.cursor = { prefix: 0, after: null };
    this.listing = null;
    const ex = totalOf(counts.examined);
    const expired = totalOf(counts.expired);
    const deleted = totalOf(counts.deleted);
    const k = counts.kept;
    this.log(
      `lease crawler: cycle ${s.cycle} done in ${Math.round((now - (s.cycleStartedAt ?? now)) / 1000)} s (${s.mode}): ` +
        `${counts.storageIndexes} storage indexes, ${ex.shares} shares (${ex.bytes} bytes) examined; ` +
        `${counts.expiredLeases} of ${counts.examined.leases} leases expired; ` +
        `${expired.shares} shares (${expired.bytes} bytes) with no live lease, ${deleted.shares} (${deleted.bytes} bytes) deleted; ` +
        `kept: ${k.uploading} being uploaded, ${k.withoutLeases} without leases, ${k.unreadable} unreadable`,
    );
  }

  /** The next storage index after the cursor; 'end' when the cycle is done; 'yield' when out of time. */
  private async nextStorageIndex(
    outOfTime: () => boolean,
  ): Promise<{ si: StorageIndex; name: string } | 'end' | 'yield'> {
    const c = this.state.cursor;
    let listed = false;
    while (c.prefix < PREFIXES.length) {
      if (this.listing?.prefix !== c.prefix) {
        // Listing a prefix folder is work too: a step that already listed one may stop here.
        if (listed && outOfTime()) return 'yield';
        listed = true;
        this.listing = { prefix: c.prefix, entries: await this.list(PREFIXES[c.prefix]), next: 0 };
      }
      const l = this.listing;
      while (l.next < l.entries.length && c.after !== null && l.entries[l.next].name <= c.after) l.next++;
      if (l.next < l.entries.length) return l.entries[l.next++];
      c.prefix++;
      c.after = null;
    }
    return 'end';
  }

  private async list(prefix: string): Promise<Listing['entries']> {
    try {
      const entries = (await this.o.target.storageIndexesIn(prefix)).map((si) => ({
        si,
        name: base32Encode(si),
      }));
      return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      // Skipped this cycle (its shares are kept); the next cycle lists it again.
      this.log(`lease crawler: cannot list prefix ${prefix}: ${(err as Error).message}; skipped this cycle`);
      return [];
    }
  }

  private async examine(si: StorageIndex): Promise<CrawlCounts> {
    const { mode, dryRun } = this.o.expiry;
    try {
      return await this.o.target.examineStorageIndex(si, {
        mode,
        delete: mode !== null && !dryRun,
        nowSecs: Math.floor(this.now() / 1000),
      });
    } catch (err) {
      this.log(
        `lease crawler: cannot examine a storage index: ${(err as Error).message}; its shares are kept`,
      );
      const c = zeroCounts();
      c.storageIndexes = 1;
      c.kept.unreadable = 1;
      return c;
    }
  }

  private async save(): Promise<void> {
    try {
      await writeAtomically(this.o.statePath, `${JSON.stringify(this.state)}\n`, true);
      if (this.saveFailing) this.log('lease crawler: its state is saved again');
      this.saveFailing = false;
    } catch (err) {
      // Not fatal: a restart would redo more of the cycle, nothing else.
      if (!this.saveFailing) this.log(`lease crawler: cannot save its state: ${(err as Error).message}`);
      this.saveFailing = true;
    }
    if (this.o.statusPath) {
      // For reading only (rebuilt after every step): no fsync.
      await writeAtomically(
        this.o.statusPath,
        `${JSON.stringify(await this.status(), null, 2)}\n`,
        false,
      ).catch(() => {});
    }
  }

  /** The figures and the crawler's progress, for operators. */
  async status(): Promise<CrawlerStatus> {
    const s = this.state;
    const last = s.lastCycle;
    const iso = (t: number | null | undefined) =>
      t === null || t === undefined ? null : new Date(t).toISOString();
    const state: CrawlerStatus['crawler']['state'] = this.stopping
      ? 'stopped'
      : this.running
        ? 'working'
        : !this.stepped
          ? 'waiting to start'
          : s.inProgress
            ? 'pausing'
            : 'between cycles';
    let available: number | null = null;
    if (this.o.availableSpace) available = await this.o.availableSpace().catch(() => null);
    return {
      updatedAt: new Date(this.now()).toISOString(),
      expiry: {
        mode: modeText(this.o.expiry.mode),
        dryRun: this.o.expiry.dryRun,
        deletes: this.o.expiry.mode !== null && !this.o.expiry.dryRun,
      },
      crawler: {
        state,
        cycle: s.cycle,
        cycleInProgress: s.inProgress,
        cycleStartedAt: iso(s.cycleStartedAt),
        progress: s.inProgress
          ? {
              prefix: PREFIXES[s.cursor.prefix] ?? null,
              prefixesDone: s.cursor.prefix,
              prefixes: PREFIXES.length,
              percent: Math.floor((1000 * s.cursor.prefix) / PREFIXES.length) / 10,
            }
          : null,
        nextStepAt: iso(this.nextStepAt),
        examinedSinceStart: this.examinedSinceStart,
        pace: { ...this.pace },
      },
      cycleToDate: s.inProgress ? structuredClone(s.cycleToDate) : null,
      lastCycle: last
        ? {
            ...structuredClone(last),
            startedAt: iso(last.startedAt) as string,
            finishedAt: iso(last.finishedAt) as string,
          }
        : null,
      space: {
        usedByShares: last ? totalOf(last.counts.examined).bytes - totalOf(last.counts.deleted).bytes : null,
        usedAsOf: iso(last?.finishedAt),
        reclaimedThisCycle: s.inProgress ? totalOf(s.cycleToDate.deleted).bytes : 0,
        reclaimedLastCycle: last ? totalOf(last.counts.deleted).bytes : null,
        available,
      },
    };
  }
}
