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
  /**
   * Tasks a worker runs before it is replaced (it takes no more, and ends once its last one
   * settles; a new one starts for the next task). Chromium collects a busy worker's old
   * garbage late: in a 1 GiB upload the segment workers' V8 and Blink heaps grew by ~250 MiB
   * of dead per-call objects (WebCrypto results, messages) without one full collection, and
   * a worker's end frees its heaps at once. Default: never.
   */
  retireAfter?: number;
}

export interface RunOptions {
  /** A status probe: goes to a running worker however busy (see run). */
  readonly light?: boolean;
  /** How many tasks this one counts as towards retireAfter (default 1). */
  readonly weight?: number;
}

interface Slot<T> {
  readonly worker: Worker;
  readonly remote: Remote<T>;
  busy: number;
  /** Tasks started on it (by weight). */
  ran: number;
}

export class WorkerPool<T> {
  readonly size: number;
  readonly #create: () => Worker;
  readonly #retireAfter: number;
  /** Workers taking tasks. */
  readonly #slots: Slot<T>[] = [];
  /** Workers replaced, finishing the tasks they have. */
  readonly #retiring = new Set<Slot<T>>();
  #closed = false;
  #started = 0;

  constructor(create: () => Worker, opts: PoolOptions = {}) {
    const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : undefined;
    const size = opts.size ?? (cores && cores > 0 ? cores : 2);
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`WorkerPool: size must be >= 1, got ${size}`);
    const retireAfter = opts.retireAfter ?? Number.POSITIVE_INFINITY;
    if (!(retireAfter >= 1)) throw new RangeError(`WorkerPool: retireAfter must be >= 1, got ${retireAfter}`);
    this.size = size;
    this.#create = create;
    this.#retireAfter = retireAfter;
  }

  /** Workers started so far (replacements included). */
  get started(): number {
    return this.#started;
  }

  /** Workers running now (taking tasks, or finishing theirs before they end). */
  get running(): number {
    return this.#slots.length + this.#retiring.size;
  }

  #start(): Slot<T> {
    const worker = this.#create();
    const slot = { worker, remote: wrap<T>(worker), busy: 0, ran: 0 };
    this.#started++;
    this.#slots.push(slot);
    return slot;
  }

  #pick(light: boolean): Slot<T> {
    if (this.#closed) throw new Error('WorkerPool: used after terminate()');
    let best: Slot<T> | undefined;
    for (const s of this.#slots) if (!best || s.busy < best.busy) best = s;
    if ((!best || (best.busy > 0 && !light)) && this.#slots.length < this.size) best = this.#start();
    return best!;
  }

  /** Counts a task started on `slot`; a worker that has run its share takes no more. */
  #began(slot: Slot<T>, weight = 1): void {
    slot.busy++;
    slot.ran += weight;
    if (slot.ran >= this.#retireAfter && this.#slots.includes(slot)) {
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      this.#retiring.add(slot);
    }
  }

  #settled(slot: Slot<T>): void {
    slot.busy--;
    if (slot.busy === 0 && this.#retiring.delete(slot)) this.#stop(slot);
  }

  #stop(slot: Slot<T>): void {
    slot.remote[releaseProxy]();
    slot.worker.terminate();
  }

  /**
   * Runs `task` against the least busy worker's remote API. A `light` task (a status probe)
   * goes to a running worker however busy, and starts one only when none runs: a worker of
   * its own would cost its own heaps and connections, for a task that barely needs a turn.
   * A task of `weight` counts as that many towards retireAfter (a message of several jobs).
   */
  async run<R>(task: (remote: Remote<T>) => Promise<R>, opts: RunOptions = {}): Promise<R> {
    const slot = this.#pick(opts.light ?? false);
    this.#began(slot, opts.weight);
    try {
      return await task(slot.remote);
    } finally {
      this.#settled(slot);
    }
  }

  /** Runs `task` once on every worker, starting all `size` of them (e.g. to warm them up). */
  async each<R>(task: (remote: Remote<T>, index: number) => Promise<R>): Promise<R[]> {
    if (this.#closed) throw new Error('WorkerPool: used after terminate()');
    while (this.#slots.length < this.size) this.#start();
    return Promise.all(
      [...this.#slots].map(async (slot, i) => {
        this.#began(slot);
        try {
          return await task(slot.remote, i);
        } finally {
          this.#settled(slot);
        }
      }),
    );
  }

  /** Stops every worker; tasks still running reject. */
  terminate(): void {
    this.#closed = true;
    for (const s of [...this.#slots.splice(0), ...this.#retiring]) this.#stop(s);
    this.#retiring.clear();
  }
}
