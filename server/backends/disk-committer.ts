/**
 * Group commit of new immutable shares given whole (every share of a small file), the main
 * thread's side: the commits that arrive while a batch is out queue up and go together as
 * the next batch, one message each way, to a worker thread that does the file calls
 * synchronously, but for the fsyncs, run a few at once (disk-commit-worker.ts: the steps,
 * and the order that keeps a crash from showing part of a share). Through fs.promises each
 * share cost ~20 calls of ~40 µs of the event loop's time plus thread-pool hand-offs; there
 * they cost a few µs each, off the event loop, and a folder changed by many shares of a
 * batch is fsynced once.
 *
 * Only a share whose folder the commit makes goes all the way there (every share of a new
 * storage index): where the folder exists the answer is 'exists', the file stays written and
 * fsynced under incoming/, and the backend places it the careful way. The worker keeps the
 * process alive only while a batch is out, and close ends it.
 */
import { Worker } from 'node:worker_threads';
import {
  COMMIT_WORKER_SOURCE,
  type FsErrorReply,
  type WholeShareJob,
  type WholeShareOutcome,
  type WholeShareReply,
} from './disk-commit-worker.ts';

export type { WholeShareJob, WholeShareOutcome } from './disk-commit-worker.ts';

/**
 * The most shares a batch takes (more wait for the next): each of a batch's shares is
 * answered once the last is done, so a burst of hundreds would make the first wait for all.
 * Room for two puts of BATCH_FILES (64) files (cp -r keeps two in flight).
 */
const MAX_BATCH = 128;

interface Waiting {
  job: WholeShareJob;
  resolve(outcome: WholeShareOutcome): void;
  reject(err: Error): void;
}

/**
 * A share's commit failed: its fs error as the promise-based calls give it (the errno `code`,
 * which the server's error mapping reads, the call and the path), or the worker's end.
 */
export class DiskCommitError extends Error {
  override readonly name = 'DiskCommitError';
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;

  constructor(reply: FsErrorReply) {
    super(reply.message);
    this.code = reply.code;
    if (reply.syscall) this.syscall = reply.syscall;
    if (reply.path) this.path = reply.path;
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
    if (this.closed)
      return Promise.reject(
        new DiskCommitError({ code: 'ECANCELED', message: 'the storage backend is closed' }),
      );
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
    const w = new Worker(COMMIT_WORKER_SOURCE, { eval: true });
    // A worker that failed is dropped at once, so the next batch starts a new one; its 'exit'
    // after an 'error' must not fail that batch. (close drops the worker before ending it.)
    const lost = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.failAll(err);
    };
    w.on('message', (replies: WholeShareReply[]) => this.done(replies));
    w.on('error', lost);
    w.on('messageerror', lost);
    w.on('exit', () => lost(new Error('the commit worker stopped')));
    this.worker = w;
    return w;
  }

  private send(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, MAX_BATCH);
    this.inFlight = batch;
    try {
      const w = this.ensureWorker();
      w.ref(); // a batch out keeps the process alive until it is answered
      // The containers are the backend's own (made for this commit): moved, not copied.
      const buffers = new Set(batch.map((b) => b.job.bytes.buffer as ArrayBuffer));
      w.postMessage(
        batch.map((b) => b.job),
        [...buffers],
      );
    } catch (err) {
      this.failAll(err as Error);
    }
  }

  private done(replies: WholeShareReply[]): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    for (const [i, b] of batch.entries()) {
      const r = replies[i];
      if (r && 'ok' in r) b.resolve(r.ok);
      else b.reject(new DiskCommitError(r ?? { code: 'EIO', message: 'the commit worker gave no answer' }));
    }
    this.next();
  }

  private failAll(err: Error): void {
    const batch = this.inFlight ?? [];
    this.inFlight = null;
    for (const b of batch) b.reject(new DiskCommitError({ code: 'EIO', message: err.message }));
    this.next();
  }

  /** The batch that queued meanwhile, or else idle: the worker no longer keeps the process alive. */
  private next(): void {
    if (this.queue.length > 0) {
      this.send();
      return;
    }
    this.worker?.unref();
    for (const r of this.idleWaiters.splice(0)) r();
  }
}
