/**
 * A small LRU of immutable shares being read, so a download's many range reads of one
 * share cost one lookup and header read, not one each (the OS handles themselves are the
 * backend's, kept within its handle budget). Immutable data never changes once closed, so
 * a cached file and data length stay right; a deleted share must be `forget`-ten.
 */
import { toHex } from '../core/primitives/bytes.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { ShareFile } from './backends/backend.ts';

export interface Reader {
  key: string;
  file: ShareFile;
  dataLength: number;
  users: number;
  used: boolean;
  evicted: boolean;
}

/** Handles are closed only when no read is using them. */
export class ReaderCache {
  private readonly open = new Map<string, Reader>();
  private readonly opening = new Map<string, Promise<Reader>>();

  constructor(
    private readonly load: (
      si: StorageIndex,
      sh: ShareNum,
    ) => Promise<{ file: ShareFile; dataLength: number }>,
    private readonly max = 64,
  ) {}

  async acquire(si: StorageIndex, sh: ShareNum): Promise<Reader> {
    const key = readerKey(si, sh);
    let r = this.open.get(key);
    if (r) {
      this.open.delete(key);
      this.open.set(key, r);
    } else {
      let p = this.opening.get(key);
      if (!p) {
        p = this.load(si, sh).then((x) => ({ key, ...x, users: 0, used: true, evicted: false }));
        this.opening.set(key, p);
        p.then(
          (opened) => {
            this.opening.delete(key);
            this.open.set(key, opened);
            this.evict();
          },
          () => this.opening.delete(key),
        );
      }
      r = await p;
    }
    r.users++;
    r.used = true;
    return r;
  }

  /** Stops serving a share from its cached handle (it is being deleted). */
  forget(si: StorageIndex, sh: ShareNum): void {
    const r = this.open.get(readerKey(si, sh));
    if (r) this.drop(r);
  }

  release(r: Reader): void {
    r.users--;
    if (r.evicted && r.users === 0) void r.file.close().catch(() => {});
  }

  private evict(): void {
    for (const r of this.open.values()) {
      if (this.open.size <= this.max) break;
      this.drop(r);
    }
  }

  private drop(r: Reader): void {
    this.open.delete(r.key);
    r.evicted = true;
    if (r.users === 0) void r.file.close().catch(() => {});
  }

  /** Closes handles not used since the last call. */
  closeIdle(): void {
    for (const r of [...this.open.values()]) {
      if (!r.used) this.drop(r);
      else r.used = false;
    }
  }

  async closeAll(): Promise<void> {
    for (const r of [...this.open.values()]) this.drop(r);
  }
}

function readerKey(si: StorageIndex, sh: ShareNum): string {
  return `${toHex(si)}/${sh}`;
}
