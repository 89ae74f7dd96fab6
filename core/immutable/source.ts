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
   * already return views of their own and leave it alone.
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

/** A browser File or Blob (also Node's Blob). */
export function blobSource(blob: Blob): PlaintextSource {
  return {
    size: blob.size,
    async read(offset, length) {
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.length !== length)
        throw new InputError('file changed size while being read', 'SOURCE_CHANGED');
      return bytes;
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
