/**
 * Serves a PlaintextSource's small sequential reads from large windows. In Chromium each
 * Blob.slice() of a File is a round trip to the browser process's blob registry; reading a
 * file segment by segment (128 KiB, twice with convergence) spent a sixth of the upload
 * worker's time there. Windows of a few MiB cut those calls ~30-fold for one window of memory.
 * The encoder reads ahead, so reads overlap: each read keeps the window it was served from.
 */
import type { PlaintextSource } from '../../core/immutable/source.ts';

interface Window {
  start: number;
  end: number;
  data: Promise<Uint8Array>;
}

export function readAhead(inner: PlaintextSource, windowBytes = 4 * 1024 * 1024): PlaintextSource {
  let current: Window | null = null;
  return {
    size: inner.size,
    async read(offset, length) {
      if (length > windowBytes) return inner.read(offset, length);
      if (!current || offset < current.start || offset + length > current.end) {
        const end = Math.min(inner.size, offset + windowBytes);
        current = { start: offset, end, data: inner.read(offset, end - offset) };
      }
      const w = current;
      const data = await w.data;
      // A copy, not a view: callers may transfer or keep what they are given.
      return data.slice(offset - w.start, offset - w.start + length);
    },
  };
}
