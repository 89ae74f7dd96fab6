/**
 * Range reads of committed immutable shares, through a small cache of open shares (a
 * download's many reads of one share cost one open and one header read).
 */
import type { ReadArgs } from '../core/protocol/frames.ts';
import { StorageError } from '../core/protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { ShareBackend } from './backends/backend.ts';
import { IMMUTABLE_HEADER_BYTES, immutableLayout } from './containers.ts';
import { ReaderCache } from './reader-cache.ts';
import { siPrefix } from './si.ts';

export class ImmutableReads {
  /** Recently read immutable shares and their data lengths (their data never changes once closed). */
  private readonly readers: ReaderCache;

  constructor(backend: ShareBackend) {
    this.readers = new ReaderCache(async (si, sh) => {
      const f = await backend.openShare('immutable', si, sh, false);
      if (!f) throw new StorageError('NOT_FOUND', `no immutable share ${sh} of ${siPrefix(si)} here`);
      const head = await f.read(0, IMMUTABLE_HEADER_BYTES);
      return { file: f, dataLength: immutableLayout(head, await f.size()).dataLength };
    });
  }

  /**
   * Reads share data. With `place`, the bytes go where `place(n)` says (the caller can
   * lay a reply frame around them and skip a copy); the filled view is returned.
   */
  async read(a: ReadArgs, place?: (n: number) => Uint8Array): Promise<Uint8Array> {
    const h = await this.readers.acquire(a.si, a.sh);
    try {
      const n = a.offset >= h.dataLength ? 0 : Math.min(a.length, h.dataLength - a.offset);
      const target = place ? place(n) : new Uint8Array(n);
      const got = await h.file.readInto(IMMUTABLE_HEADER_BYTES + a.offset, target);
      if (got !== n) throw new Error('immutable share is shorter than its header says');
      return target;
    } finally {
      this.readers.release(h);
    }
  }

  /** A share was deleted: its cached handle must not serve it any more. */
  forget(si: StorageIndex, sh: ShareNum): void {
    this.readers.forget(si, sh);
  }

  closeIdle(): void {
    this.readers.closeIdle();
  }

  closeAll(): Promise<void> {
    return this.readers.closeAll();
  }
}
