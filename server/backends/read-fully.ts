/** Reading a local file until a buffer is full, as Node's FileHandle.read may return less. */
import type { FileHandle } from 'node:fs/promises';

/** Reads into `target` from `position` until it is full or the file ends; returns the bytes read. */
export async function readFullyAt(h: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < target.length) {
    const { bytesRead } = await h.read(target, got, target.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
