/**
 * Group commit of new immutable shares given whole (every share of a small file): the
 * commits that arrive together are carried out by one worker thread with synchronous file
 * calls, one message per batch each way. Through fs.promises each share cost ~20 calls of
 * ~40 µs of the event loop's time plus thread-pool hand-offs (open, write, fsync, close,
 * mkdir, rename, and an open/fsync/close per folder); done here they cost a few µs each, off
 * the event loop, and a folder changed by many shares of a batch is fsynced once.
 *
 * Per share the order is the one disk-backend.ts keeps for every new share: the container is
 * written under incoming/ and fsynced, the storage index's folder made, the file renamed
 * into it, then that folder and every folder whose listing changed are fsynced; only then is
 * the commit's promise resolved. A crash at any point leaves the whole share or none of it
 * (leftovers under incoming/ are deleted at start). Only a share whose folder this commit
 * makes goes all the way here (every share of a new storage index): where the folder exists
 * the answer is 'exists', the file stays written and fsynced under incoming/, and the
 * backend places it the careful way.
 */
import { Worker } from 'node:worker_threads';

export interface WholeShareJob {
  /** Where the container is written first (must not exist). */
  tmp: string;
  /** The storage index's folder, made by this job or else left alone. */
  dir: string;
  /** The share's final path, in `dir`. */
  final: string;
  /** The whole container, in a buffer of its own: it is moved to the worker, not copied. */
  bytes: Uint8Array;
}

/** 'done': durable and visible; 'exists': `dir` was there already (the file is durable at `tmp`). */
export type WholeShareOutcome = 'done' | 'exists';

type Reply = { ok: WholeShareOutcome } | { code: string; message: string };

// Plain JavaScript run in the worker (the server runs from a one-file bundle, so the worker
// cannot be a module file of its own). Replies in job order.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const failed = (e) => ({ code: e.code || 'EIO', message: e.message });
const syncDir = (dir) => {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
};
parentPort.on('message', (jobs) => {
  const replies = jobs.map(() => null);
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i];
    let fd;
    try {
      fd = fs.openSync(j.tmp, 'wx');
    } catch (e) {
      replies[i] = failed(e); // not ours to remove
      continue;
    }
    try {
      for (let at = 0; at < j.bytes.length; ) at += fs.writeSync(fd, j.bytes, at, j.bytes.length - at);
      fs.fsyncSync(fd);
    } catch (e) {
      replies[i] = failed(e);
    }
    fs.closeSync(fd);
    if (replies[i]) try { fs.unlinkSync(j.tmp); } catch {}
  }
  const dirs = new Set();
  for (let i = 0; i < jobs.length; i++) {
    if (replies[i]) continue;
    const j = jobs[i];
    try {
      const first = fs.mkdirSync(j.dir, { recursive: true });
      if (first === undefined) { replies[i] = { ok: 'exists' }; continue; }
      try {
        fs.renameSync(j.tmp, j.final);
      } catch (e) {
        // Emptied and removed meanwhile by a delete of the same storage index: once more.
        if (e.code !== 'ENOENT') throw e;
        fs.mkdirSync(j.dir, { recursive: true });
        fs.renameSync(j.tmp, j.final);
      }
      dirs.add(j.dir);
      for (let d = j.dir; ; d = path.dirname(d)) {
        dirs.add(path.dirname(d));
        if (d === first || d === path.dirname(d)) break;
      }
      replies[i] = { ok: 'done' };
    } catch (e) {
      replies[i] = failed(e);
      try { fs.unlinkSync(j.tmp); } catch {}
    }
  }
  // Deepest first: a share's folder before the folders above it.
  const order = [...dirs].sort((a, b) => b.length - a.length);
  const dirErrors = new Map();
  for (const d of order) {
    try { syncDir(d); } catch (e) { dirErrors.set(d, failed(e)); }
  }
  if (dirErrors.size > 0) {
    for (let i = 0; i < jobs.length; i++) {
      if (!replies[i] || replies[i].ok !== 'done') continue;
      for (let d = jobs[i].dir; d !== path.dirname(d); d = path.dirname(d)) {
        const e = dirErrors.get(d) || dirErrors.get(path.dirname(d));
        if (e) { replies[i] = e; break; }
      }
    }
  }
  parentPort.postMessage(replies);
});
`;

interface Waiting {
  job: WholeShareJob;
  resolve(outcome: WholeShareOutcome): void;
  reject(err: Error): void;
}

/** An fs error as the promise-based calls give it: a message and the errno `code`. */
class CommitError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class DiskCommitter {
  private worker: Worker | null = null;
  private queue: Waiting[] = [];
  private inFlight: Waiting[] | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  /** Writes, places and makes durable one whole share, in the next batch. */
  commit(job: WholeShareJob): Promise<WholeShareOutcome> {
    if (this.closed) return Promise.reject(new CommitError('ECANCELED', 'the storage backend is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      // Commits started in the same turn go together; later ones wait for the batch running.
      if (this.queue.length === 1 && !this.inFlight) setImmediate(() => this.send());
    });
  }

  /** Ends the worker once the commits given are done; later ones are refused. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight || this.queue.length > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (replies: Reply[]) => this.done(replies));
    w.on('error', (err) => this.failAll(err));
    w.on('exit', () => {
      if (this.worker === w) this.worker = null;
      this.failAll(new Error('the commit worker stopped'));
    });
    this.worker = w;
    return w;
  }

  private send(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.inFlight = batch;
    const w = this.ensureWorker();
    w.ref(); // a batch out keeps the process alive until it is answered
    // The containers are the backend's own (made for this commit): moved, not copied.
    w.postMessage(
      batch.map((b) => b.job),
      batch.map((b) => b.job.bytes.buffer as ArrayBuffer),
    );
  }

  private done(replies: Reply[]): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    for (const [i, b] of batch.entries()) {
      const r = replies[i];
      if (r && 'ok' in r) b.resolve(r.ok);
      else b.reject(new CommitError(r?.code ?? 'EIO', r?.message ?? 'the commit worker gave no answer'));
    }
    if (this.queue.length > 0) this.send();
    else this.idle();
  }

  private idle(): void {
    this.worker?.unref();
    for (const r of this.idleWaiters.splice(0)) r();
  }

  private failAll(err: Error): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    for (const b of batch) b.reject(new CommitError('EIO', err.message));
    if (this.queue.length > 0) this.send();
    else this.idle();
  }
}
