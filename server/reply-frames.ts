/**
 * Buffers for large read replies, used again once the transport has written them. A reply
 * frame lives outside V8's heap, and V8 runs a full collection per ~64 MiB of new external
 * memory: a server answering 512 KiB reads at 150 MB/s made a fresh frame for each and
 * collected about every 100 ms. Replies the transport never hands back (a closed socket, a
 * short read re-encoded) are simply collected: the pool only remembers what it lent weakly.
 */

/** Replies smaller than this are cheap to allocate and are not pooled. */
const POOLED_MIN_BYTES = 64 * 1024;
/** Capacities are rounded up to this, so reads of one size share buffers whatever their head. */
const CAPACITY_STEP = 64 * 1024;
/** Free bytes kept for later replies; anything beyond is left to the collector. */
const MAX_FREE_BYTES = 32 * 1024 * 1024;

export class ReplyFrames {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly lent = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  /** A buffer of exactly `bytes`, fresh or used before: the caller sets every byte it sends. */
  take(bytes: number): Uint8Array {
    if (bytes < POOLED_MIN_BYTES) return new Uint8Array(bytes);
    const capacity = Math.ceil(bytes / CAPACITY_STEP) * CAPACITY_STEP;
    const buf = this.free.get(capacity)?.pop();
    if (buf) this.freeBytes -= capacity;
    const ab = buf ?? new ArrayBuffer(capacity);
    this.lent.add(ab);
    return new Uint8Array(ab, 0, bytes);
  }

  /** The transport is done with `frame`: if this pool lent it, it may be taken again. */
  give(frame: Uint8Array): void {
    const ab = frame.buffer as ArrayBuffer;
    if (!this.lent.delete(ab)) return;
    if (this.freeBytes + ab.byteLength > MAX_FREE_BYTES) return;
    const list = this.free.get(ab.byteLength);
    if (list) list.push(ab);
    else this.free.set(ab.byteLength, [ab]);
    this.freeBytes += ab.byteLength;
  }
}
