/**
 * Where plaintext comes from: anything that can read a byte range. The encoder reads each
 * segment once per pass, in order, so a File is never held in memory whole.
 */
import { InputError } from '../errors.ts';

export interface PlaintextSource {
  readonly size: number;
  /** Exactly `length` bytes starting at `offset` (offset + length <= size). */
  read(offset: number, length: number): Promise<Uint8Array>;
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
