/**
 * Serves a PlaintextSource's small sequential reads from large windows. In Chromium each
 * Blob.slice() of a File is a round trip to the browser process's blob registry; reading a
 * file segment by segment (128 KiB, twice with convergence) spent a sixth of the upload
 * worker's time there. Windows of a few MiB cut those calls ~30-fold for one window of memory.
 */
import type { PlaintextSource } from '../../core/immutable/source.ts';

export function readAhead(inner: PlaintextSource, windowBytes = 4 * 1024 * 1024): PlaintextSource {
  let start = 0;
  let window: Uint8Array = new Uint8Array(0);
  return {
    size: inner.size,
    async read(offset, length) {
      if (length > windowBytes) return inner.read(offset, length);
      if (offset < start || offset + length > start + window.length) {
        start = offset;
        window = await inner.read(offset, Math.min(windowBytes, inner.size - offset));
      }
      // A copy, not a view: callers may transfer or keep what they are given.
      return window.slice(offset - start, offset - start + length);
    },
  };
}
