/**
 * A pool of comlink workers of one kind, shared by every worker type the web app runs
 * (codec, hashing, …). Workers start lazily, up to `size` (one per core by default);
 * each task goes to the worker with the fewest tasks in flight.
 *
 *   const pool = new WorkerPool<CodecWorkerApi>(
 *     () => new Worker(new URL('./codec-worker.ts', import.meta.url), { type: 'module' }),
 *   );
 *   const parity = await pool.run((w) => w.encodeParity(3, 10, transfer(blocks, buffers)));
 *
 * (The `new Worker(new URL(…), { type: 'module' })` must be written out where the pool is
 * made, so that Vite sees and bundles the worker.)
 */
import { type Remote, releaseProxy, wrap } from 'comlink';

export interface PoolOptions {
  /** Workers at most; default navigator.hardwareConcurrency (or 2 when unknown). */
  size?: number;
}

interface Slot<T> {
  readonly worker: Worker;
  readonly remote: Remote<T>;
  busy: number;
}

export class WorkerPool<T> {
  readonly size: number;
  readonly #create: () => Worker;
  readonly #slots: Slot<T>[] = [];
  #closed = false;

  constructor(create: () => Worker, opts: PoolOptions = {}) {
    const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : undefined;
    const size = opts.size ?? (cores && cores > 0 ? cores : 2);
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`WorkerPool: size must be >= 1, got ${size}`);
    this.size = size;
    this.#create = create;
  }

  /** Workers started so far. */
  get started(): number {
    return this.#slots.length;
  }

  #pick(): Slot<T> {
    if (this.#closed) throw new Error('WorkerPool: used after terminate()');
    let best: Slot<T> | undefined;
    for (const s of this.#slots) if (!best || s.busy < best.busy) best = s;
    if ((!best || best.busy > 0) && this.#slots.length < this.size) {
      const worker = this.#create();
      best = { worker, remote: wrap<T>(worker), busy: 0 };
      this.#slots.push(best);
    }
    return best!;
  }

  /** Runs `task` against the least busy worker's remote API. */
  async run<R>(task: (remote: Remote<T>) => Promise<R>): Promise<R> {
    const slot = this.#pick();
    slot.busy++;
    try {
      return await task(slot.remote);
    } finally {
      slot.busy--;
    }
  }

  /** Runs `task` once on every worker, starting all `size` of them (e.g. to warm them up). */
  async each<R>(task: (remote: Remote<T>, index: number) => Promise<R>): Promise<R[]> {
    while (this.#slots.length < this.size) {
      const worker = this.#create();
      this.#slots.push({ worker, remote: wrap<T>(worker), busy: 0 });
    }
    return Promise.all(
      this.#slots.map(async (slot, i) => {
        slot.busy++;
        try {
          return await task(slot.remote, i);
        } finally {
          slot.busy--;
        }
      }),
    );
  }

  /** Stops every worker; tasks still running reject. */
  terminate(): void {
    this.#closed = true;
    for (const s of this.#slots.splice(0)) {
      s.remote[releaseProxy]();
      s.worker.terminate();
    }
  }
}
