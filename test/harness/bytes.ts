/**
 * Byte assertions for big buffers. vitest's toEqual walks typed arrays element by
 * element (about 4 s per MB here); these compare natively and report where they differ.
 */
import { expect } from 'vitest';

export function expectBytesEqual(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(b)) return;
  let i = 0;
  while (i < Math.min(a.length, b.length) && a[i] === b[i]) i++;
  expect.fail(`${what} differ: lengths ${a.length} vs ${b.length}, first difference at byte ${i}`);
}

/** Deterministic pseudo-random bytes (an LCG), so a failing test sees the same data again. */
export function pattern(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
