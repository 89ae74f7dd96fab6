/**
 * For the lease crawler's tests: a real StorageServer on a DiskBackend in a temp folder, a
 * clock the test moves, a scheduler that runs the crawler's next step when the test says
 * (moving the clock to it), and helpers that store shares and read the folder back.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type StorageIndex } from '../../core/types.ts';
import { type CrawlerPace, type CrawlTarget, LeaseCrawler } from '../../server/crawler.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import type { ExpiryConfig } from '../../server/expiry.ts';
import { StorageServer, type UploadSession } from '../../server/storage-server.ts';
import { tempDir } from '../harness/grid.ts';

export const rand = (n: number) => new Uint8Array(randomBytes(n));
export const DAY = 24 * 3600 * 1000;

/** A clock the test owns, and the crawler's one pending step (the crawler arms one at a time). */
export class VirtualTime {
  private pending: { due: number; fn: () => Promise<void> } | null = null;
  constructor(public t: number) {}
  now = () => this.t;
  schedule = (ms: number, fn: () => Promise<void>) => {
    const p = { due: this.t + ms, fn };
    this.pending = p;
    return () => {
      if (this.pending === p) this.pending = null;
    };
  };
  get nextDue(): number | null {
    return this.pending?.due ?? null;
  }
  /** Moves the clock to the pending step and runs it to its end; false if none is pending. */
  async runNext(): Promise<boolean> {
    const p = this.pending;
    if (!p) return false;
    this.pending = null;
    this.t = Math.max(this.t, p.due);
    await p.fn();
    return true;
  }
}

export interface Rig {
  dir: string;
  time: VirtualTime;
  server: StorageServer;
  conn: UploadSession;
  lines: string[];
}

export async function makeRig(t0: number, dir = tempDir('cairn-crawl-')): Promise<Rig> {
  const time = new VirtualTime(t0);
  const lines: string[] = [];
  const server = new StorageServer({
    backend: new DiskBackend(dir),
    nodeId: new Uint8Array(20).fill(3),
    now: time.now,
    uploadIdleTimeoutMs: 365 * DAY,
    uploadGraceMs: 365 * DAY,
    log: (l) => lines.push(l),
  });
  await server.start();
  return { dir, time, server, conn: server.openSession(), lines };
}

export function newSi(): StorageIndex {
  return asStorageIndex(rand(16));
}

/** Uploads and closes immutable shares `shs` of `si` (one lease, granted now). */
export async function putImmutable(rig: Rig, si: StorageIndex, shs: number[], size = 1000): Promise<void> {
  const s = { renew: rand(32), cancel: rand(32), upload: rand(20) };
  const shares = shs.map(asShareNum);
  await rig.server.allocate({ si, ...s, shares, size }, rig.conn);
  for (const sh of shares) {
    await rig.server.write({ si, sh, upload: s.upload, offset: 0, data: rand(size) }, rig.conn);
    await rig.server.close({ si, sh, upload: s.upload }, rig.conn);
  }
}

/** Writes mutable shares `shs` of slot `si` (a lease granted now on each share written). */
export async function putMutable(
  rig: Rig,
  si: StorageIndex,
  shs: number[],
  we: Uint8Array,
  size = 700,
): Promise<void> {
  const r = await rig.server.readTestWrite({
    si,
    writeEnabler: we,
    renew: rand(32),
    cancel: rand(32),
    testWrite: new Map(
      shs.map((sh) => [
        asShareNum(sh),
        { test: [], write: [{ offset: 0, data: rand(size) }], newLength: null },
      ]),
    ),
    readVector: [],
  });
  if (!r.success) throw new Error('mutable write failed');
}

/** Every share file under DIR/storage (both trees): relative path → bytes. */
export async function shareFiles(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const storage = path.join(dir, 'storage');
  for (const tree of ['shares', 'shares-second-kind']) {
    const root = path.join(storage, tree);
    let names: string[];
    try {
      names = (await fs.readdir(root, { recursive: true })) as string[];
    } catch {
      continue;
    }
    for (const n of names) {
      const p = path.join(root, n);
      if ((await fs.stat(p)).isFile()) out.set(path.join(tree, n), await fs.readFile(p));
    }
  }
  return out;
}

export function digest(files: Map<string, Buffer>): Map<string, string> {
  return new Map([...files].map(([k, v]) => [k, createHash('sha256').update(v).digest('hex')]));
}

export function bytesOf(files: Map<string, Buffer>, keys?: Iterable<string>): number {
  let n = 0;
  for (const k of keys ?? files.keys()) n += (files.get(k) as Buffer).length;
  return n;
}

/** The share file paths (as shareFiles names them) of `si`. */
export function pathsOf(files: Map<string, Buffer>, si: StorageIndex): string[] {
  return [...files.keys()].filter((k) => k.includes(`/${base32Encode(si)}/`));
}

export interface CrawlerRigOptions {
  expiry: ExpiryConfig;
  pace?: Partial<CrawlerPace>;
  statePath?: string;
  target?: CrawlTarget;
}

/** A crawler on the rig's server and clock; the test runs its steps through rig.time. */
export function makeCrawler(rig: Rig, o: CrawlerRigOptions): LeaseCrawler {
  return new LeaseCrawler({
    target: o.target ?? rig.server,
    statePath: o.statePath ?? path.join(rig.dir, 'storage', 'lease-crawler.json'),
    statusPath: path.join(rig.dir, 'storage', 'status.json'),
    expiry: o.expiry,
    pace: { startDelayMs: 0, perSecond: 1_000_000, ...o.pace },
    now: rig.time.now,
    schedule: rig.time.schedule,
    availableSpace: () => rig.server.availableSpace(),
    log: (l) => rig.lines.push(l),
  });
}

/** Runs the crawler's steps until cycle `cycle` has finished (at most `maxSteps`). */
export async function runUntilCycleDone(rig: Rig, crawler: LeaseCrawler, cycle: number, maxSteps = 10_000) {
  for (let i = 0; i < maxSteps; i++) {
    const st = await crawler.status();
    if (st.lastCycle && st.lastCycle.cycle >= cycle) return st;
    if (!(await rig.time.runNext())) throw new Error('the crawler has no step pending');
  }
  throw new Error(`cycle ${cycle} did not finish within ${maxSteps} steps`);
}
