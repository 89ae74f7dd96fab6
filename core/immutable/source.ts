/**
 * Where plaintext comes from: anything that can read a byte range. The encoder reads each
 * segment once per pass, in order, so a File is never held in memory whole.
 */
import { InputError } from '../errors.ts';

export interface PlaintextSource {
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset` (offset + length <= size). `into`, if given
   * (at least `length` bytes), is memory the source may read into instead of allocating: the
   * result is then a view of it, good until `into` is used again. Sources that hold the bytes
   * already return views of their own and leave it alone. A byte stream's source may move
   * `into`'s memory into the result instead (a BYOB read detaches the buffer it fills): then
   * `into` is empty afterwards and the result's buffer is that memory. A detached or too
   * short `into` is as none.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
}

export function bytesSource(data: Uint8Array): PlaintextSource {
  return {
    size: data.length,
    async read(offset, length) {
      return data.subarray(offset, offset + length);
    },
  };
}

/**
 * Readers with a read pending, held from here: in Chromium a pending BYOB read of a Blob's
 * stream was seen never to settle in the busy app (an upload stuck for good) when the reader,
 * its stream and the awaiting code reached only each other, collected mid-read; holding the
 * reader while it reads made it settle (bench/README, 2026-12-05 afternoon). A cancelled
 * upload stalled in its key pass the same way in CI (2026-12-06).
 */
const reading = new Set<ReadableStreamBYOBReader>();

/**
 * A browser File or Blob (also Node's Blob). Reads that follow on from the last come from one
 * stream of the blob, read with a BYOB reader straight into each read's buffer; any other read
 * starts a new stream there. In Chromium a Blob.slice() read is a round trip to the browser's
 * blob registry and a buffer it fills: reading a 64 MiB File in 1-4 MiB slices cost ~1 CPU-s
 * in all (the worker 0.3-0.4, the browser 0.5-0.6), through one stream 0.2-0.35 (bench/README,
 * 2026-12-06). Where a blob's stream has no BYOB reader, reads take slices.
 */
export function blobSource(blob: Blob): PlaintextSource {
  let reader: ReadableStreamBYOBReader | null = null;
  let position = -1;
  let sliced = false;
  let queue: Promise<unknown> = Promise.resolve();
  const changed = () => new InputError('file changed size while being read', 'SOURCE_CHANGED');
  const slice = async (offset: number, length: number): Promise<Uint8Array> => {
    const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    if (bytes.length !== length) throw changed();
    return bytes;
  };
  const take = async (offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> => {
    if (sliced) return slice(offset, length);
    if (!reader || offset !== position) {
      void reader?.cancel().catch(() => {});
      reader = null;
      try {
        reader = blob.slice(offset).stream().getReader({ mode: 'byob' });
      } catch {
        sliced = true; // no byte stream here
        return slice(offset, length);
      }
      position = offset;
    }
    // Into the memory given (fresh memory costs page faults in Chromium: ~3-9 ms per MiB here).
    const given = into && into.length >= length ? into : undefined;
    let buffer = given ? (given.buffer as ArrayBuffer) : new ArrayBuffer(length);
    const start = given ? given.byteOffset : 0;
    let got = 0;
    const held = reader;
    reading.add(held);
    try {
      while (got < length) {
        const { value, done } = await held.read(new Uint8Array(buffer, start + got, length - got));
        if (done || !value) throw changed();
        // The view given is handed back in a new buffer (the old one is detached).
        buffer = value.buffer as ArrayBuffer;
        got += value.length;
      }
    } catch (err) {
      reader = null; // a failed stream is not read from again
      throw err;
    } finally {
      reading.delete(held);
    }
    position += length;
    return new Uint8Array(buffer, start, length);
  };
  return {
    size: blob.size,
    read(offset, length, into) {
      // Calls may overlap (readers ahead): one after another, so each sees where the last ended.
      const result = queue.then(() => take(offset, length, into));
      queue = result.catch(() => {});
      return result;
    },
  };
}

/**
 * A one-pass source over a stream of chunks (a Node Readable, a browser ReadableStream):
 * reads must come in order, each starting where the last ended, which the encoder does.
 * Enough for a random-key upload; a convergent key needs a second pass, so a second stream.
 */
export function sequentialSource(chunks: AsyncIterable<Uint8Array>, size: number): PlaintextSource {
  const it = chunks[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  let position = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const take = async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset !== position) {
      throw new InputError(`a stream source reads in order: asked for ${offset}, next is ${position}`);
    }
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      if (pending.length === 0) {
        const next = await it.next();
        if (next.done) throw new InputError('the stream ended before its stated size', 'SOURCE_CHANGED');
        pending = next.value;
        continue;
      }
      const n = Math.min(pending.length, length - got);
      out.set(pending.subarray(0, n), got);
      pending = pending.subarray(n);
      got += n;
    }
    position += length;
    return out;
  };
  return {
    size,
    read(offset, length) {
      // Calls may overlap (the encoder reads ahead): serve them one after another.
      const result = queue.then(() => take(offset, length));
      queue = result.catch(() => {});
      return result;
    },
  };
}
