/**
 * Blocks of committed immutable shares read from an object store, kept a while: a download
 * reads a share in blocks of a segment's size (44 KiB for 128 KiB segments at k=3), and a
 * ranged GET per block costs the store, the SDK and the server a request each time. Blocks
 * are fetched whole and aligned, each once however many reads wait for it, and the least
 * recently used are dropped past a byte budget. Immutable data never changes once
 * committed; a share's blocks are keyed by its open file (a share deleted and uploaded
 * again is another file), and dropped when that file is closed.
 */

interface Entry {
  block: Promise<Uint8Array>;
  /** Bytes counted against the budget (0 until it arrived). */
  bytes: number;
}

export class BlockCache {
  /** In use order, least recent first. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  /** The block under `key`, from `load` when not held (or being loaded) already. */
  get(key: string, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const held = this.entries.get(key);
    if (held) {
      this.entries.delete(key);
      this.entries.set(key, held);
      return held.block;
    }
    const entry: Entry = { block: load(), bytes: 0 };
    this.entries.set(key, entry);
    entry.block.then(
      (b) => {
        if (this.entries.get(key) !== entry) return;
        entry.bytes = b.length;
        this.bytes += b.length;
        this.evict();
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.block;
  }

  /** Drops every block whose key starts with `prefix`. */
  drop(prefix: string): void {
    for (const [key, e] of this.entries) {
      if (key.startsWith(prefix)) this.remove(key, e);
    }
  }

  private evict(): void {
    for (const [key, e] of this.entries) {
      if (this.bytes <= this.budget) return;
      // Blocks still arriving stay: their readers wait on them.
      if (e.bytes > 0) this.remove(key, e);
    }
  }

  private remove(key: string, e: Entry): void {
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}
