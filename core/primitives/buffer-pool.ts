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

  /** Gives back a buffer from take(); the caller must not touch it afterwards. */
  give(buf: Uint8Array): void {
    if (this.#held + buf.length > this.#maxBytes) return;
    let list = this.#free.get(buf.length);
    if (!list) {
      list = [];
      this.#free.set(buf.length, list);
    }
    list.push(buf);
    this.#held += buf.length;
  }

  /** Bytes held free (for tests and memory accounting). */
  get heldBytes(): number {
    return this.#held;
  }
}
