/**
 * Serves a PlaintextSource's small sequential reads from large windows. In Chromium each
 * Blob.slice() of a File is a round trip to the browser process's blob registry; reading a
 * file segment by segment (128 KiB, twice with convergence) spent a sixth of the upload
 * worker's time there. Windows of a few MiB cut those calls ~30-fold. Once a read is served
 * from a window, the window after it is requested too, so the File is read while the
 * previous window is hashed or encoded (two windows of memory instead of one).
 * The encoder reads ahead, so reads overlap: each read keeps the window it was served from.
 */
import type { PlaintextSource } from '../../core/immutable/source.ts';

interface Window {
  start: number;
  end: number;
  data: Promise<Uint8Array>;
}

/**
 * `alloc(length)` gives the buffer each read is copied into (default: a fresh one); a
 * segment runner hands back plaintext buffers it is done with, so reads reuse memory.
 */
export function readAhead(
  inner: PlaintextSource,
  windowBytes = 4 * 1024 * 1024,
  alloc: (length: number) => Uint8Array = (n) => new Uint8Array(n),
): PlaintextSource {
  let current: Window | null = null;
  let next: Window | null = null;
  const open = (start: number): Window => {
    const end = Math.min(inner.size, start + windowBytes);
    const data = inner.read(start, end - start);
    data.catch(() => {}); // a failed prefetch surfaces when (if) a read needs it
    return { start, end, data };
  };
  const covers = (w: Window | null, offset: number, length: number): w is Window =>
    w !== null && offset >= w.start && offset + length <= w.end;
  return {
    size: inner.size,
    async read(offset, length) {
      if (length > windowBytes) return inner.read(offset, length);
      if (!covers(current, offset, length)) {
        current = covers(next, offset, length) ? next : open(offset);
        next = null;
      }
      const w = current;
      if (!next && w.end < inner.size) next = open(w.end);
      const data = await w.data;
      // A copy, not a view: callers may transfer or keep what they are given.
      const out = alloc(length);
      out.set(data.subarray(offset - w.start, offset - w.start + length));
      return out;
    },
  };
}
