/**
 * Reusable byte buffers of exact sizes. Fresh large ArrayBuffers cost more than their use
 * (zero fill, page faults on first touch, and V8 starts a full GC each time external memory
 * grows by tens of MiB), so hot paths that make the same sizes over and over (frames of
 * share writes) take them from here and give them back once nothing reads them any more.
 * A buffer taken may hold old bytes: the taker must overwrite all of it.
 */
export class BufferPool {
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #maxBytes: number;
  #held = 0;

  /** Keeps at most `maxBytes` of free buffers; more given back are left to the GC. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  take(size: number): Uint8Array {
    const list = this.#free.get(size);
    const buf = list?.pop();
    if (!buf) return new Uint8Array(size);
    this.#held -= size;
    return buf;
  }

  /**
   * Gives back a buffer from take(); the caller must not touch it afterwards. When the pool
   * is full, free buffers of the sizes given back least recently make room: the pool follows
   * what is being made now (a publish's frames after an upload's), rather than staying full
   * of sizes nobody takes any more.
   */
  give(buf: Uint8Array): void {
    const size = buf.length;
    if (size > this.#maxBytes) return;
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
