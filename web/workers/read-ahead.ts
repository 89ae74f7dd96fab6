/**
 * Serves a PlaintextSource's small sequential reads from large windows. In Chromium each
 * Blob.slice() of a File is a round trip to the browser process's blob registry; reading a
 * file segment by segment (128 KiB, twice with convergence) spent a sixth of the upload
 * worker's time there. Windows of a few MiB cut those calls ~30-fold. Once a read is served
 * from a window, the window after it is requested too, so the File is read while the
 * previous window is hashed or encoded (two windows of memory instead of one).
 * The encoder reads ahead, so reads overlap: each read keeps the window it was served from.
 *
 * Memory is reused, not made fresh (fresh memory costs page faults in Chromium, and dead
 * buffers pile up between collections): a window no read needs any more lends its memory
 * to the inner source's next window read (`into`; a byte stream moves it into the result),
 * and a read given `into` is copied there.
 */
import type { PlaintextSource } from '../../core/immutable/source.ts';

interface Window {
  start: number;
  end: number;
  data: Promise<Uint8Array>;
  /** Reads waiting for or copying from this window. */
  users: number;
  /** No longer current or next: its memory goes back once `users` is 0. */
  dropped: boolean;
}

/** Window memory kept for reuse at most (current, next, and one a slow read still holds). */
const SPARE_WINDOWS = 3;

/**
 * `alloc(length)` gives the buffer each read is copied into when the caller gives none
 * (default: a fresh one); a segment runner hands back plaintext buffers it is done with, so
 * reads reuse memory.
 */
export function readAhead(
  inner: PlaintextSource,
  windowBytes = 4 * 1024 * 1024,
  alloc: (length: number) => Uint8Array = (n) => new Uint8Array(n),
): PlaintextSource {
  let current: Window | null = null;
  let next: Window | null = null;
  const spare: Uint8Array[] = [];
  const recycle = (w: Window) => {
    if (!w.dropped || w.users > 0) return;
    w.data.then(
      (d) => {
        if (spare.length < SPARE_WINDOWS && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength)
          spare.push(d);
      },
      () => {},
    );
  };
  const drop = (w: Window | null) => {
    if (!w) return;
    w.dropped = true;
    recycle(w);
  };
  const open = (start: number): Window => {
    const end = Math.min(inner.size, start + windowBytes);
    // A spare too short (the last window's) is as none to the inner source.
    const data = inner.read(start, end - start, spare.pop());
    data.catch(() => {}); // a failed prefetch surfaces when (if) a read needs it
    return { start, end, data, users: 0, dropped: false };
  };
  const covers = (w: Window | null, offset: number, length: number): w is Window =>
    w !== null && offset >= w.start && offset + length <= w.end;
  return {
    size: inner.size,
    async read(offset, length, into) {
      if (length > windowBytes) return inner.read(offset, length, into);
      if (!covers(current, offset, length)) {
        const reached = covers(next, offset, length) ? next : open(offset);
        if (reached !== next) drop(next);
        drop(current);
        current = reached;
        next = null;
      }
      const w = current;
      if (!next && w.end < inner.size) next = open(w.end);
      w.users++;
      try {
        const data = await w.data;
        // A copy, not a view: callers may transfer or keep what they are given.
        const out = into && into.length >= length ? into.subarray(0, length) : alloc(length);
        out.set(data.subarray(offset - w.start, offset - w.start + length));
        return out;
      } finally {
        w.users--;
        recycle(w);
      }
    },
  };
}
