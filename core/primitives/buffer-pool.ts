/**
 * Reusable byte buffers of exact sizes. Fresh large ArrayBuffers cost more than their use
 * (zero fill, page faults on first touch, and V8 starts a full GC each time external memory
 * grows by tens of MiB), so hot paths that make the same sizes over and over (frames of
 * share writes) take them from here and give them back once nothing reads them any more.
 * A buffer taken may hold old bytes: the taker must overwrite all of it.
 *
 * With a `step`, buffers are made in capacities rounded up to it and handed out as views of
 * the size asked for, so that sizes that differ a little share buffers (a batch of small
 * files' shares is a different size every time; so is a read's reply with its header). When
 * no buffer of the capacity is free, a free one up to a quarter larger is handed out instead
 * (a cp -r's batch frames spread over several capacities).
 */
export class BufferPool {
  /** Free buffers by capacity, each a view of its whole ArrayBuffer. */
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #maxBytes: number;
  readonly #step: number;
  #held = 0;

  /** Keeps at most `maxBytes` of free buffers; more given back are left to the GC. */
  constructor(maxBytes: number, opts: { step?: number } = {}) {
    this.#maxBytes = maxBytes;
    this.#step = opts.step ?? 1;
  }

  take(size: number): Uint8Array {
    const capacity = Math.ceil(size / this.#step) * this.#step;
    const fit = this.#fit(capacity);
    const list = this.#free.get(fit);
    const buf = list?.pop();
    if (list?.length === 0) this.#free.delete(fit);
    if (buf) this.#held -= fit;
    const whole = buf ?? new Uint8Array(capacity);
    return size === whole.length ? whole : whole.subarray(0, size);
  }

  /**
   * `capacity` if a buffer of it is free (or the pool has no step); else the smallest capacity
   * with a free buffer above it by at most a quarter (or one step); else `capacity`.
   */
  #fit(capacity: number): number {
    if (this.#step === 1 || this.#free.has(capacity)) return capacity;
    const most = capacity + Math.max(this.#step, Math.floor(capacity / 4));
    let best = capacity;
    for (const c of this.#free.keys())
      if (c > capacity && c <= most && (best === capacity || c < best)) best = c;
    return best;
  }

  /**
   * Gives back a buffer from take() (or a view of one); the caller must not touch it
   * afterwards. When the pool is full, free buffers of the sizes given back least recently
   * make room: the pool follows what is being made now (a publish's frames after an
   * upload's), rather than staying full of sizes nobody takes any more.
   */
  give(taken: Uint8Array): void {
    const buf =
      taken.byteOffset === 0 && taken.length === taken.buffer.byteLength
        ? taken
        : new Uint8Array(taken.buffer);
    const size = buf.length;
    // Not a capacity this pool makes (another's buffer): take() would never hand it out.
    if (size > this.#maxBytes || size % this.#step !== 0) return;
    for (const [other, list] of this.#free) {
      if (this.#held + size <= this.#maxBytes) break;
      if (other === size) continue;
      while (list.length > 0 && this.#held + size > this.#maxBytes) {
        list.pop();
        this.#held -= other;
      }
      if (list.length === 0) this.#free.delete(other);
    }
    if (this.#held + size > this.#maxBytes) return;
    let list = this.#free.get(size);
    if (list)
      this.#free.delete(size); // re-inserted last: the most recently given size
    else list = [];
    this.#free.set(size, list);
    list.push(buf);
    this.#held += size;
  }

  /** Bytes held free (for tests and memory accounting). */
  get heldBytes(): number {
    return this.#held;
  }
}
