/**
 * Cases shared by codec.test.ts and the child node it starts with
 * --experimental-wasm-relaxed-simd: run directly, this file loads the relaxed build and
 * prints the digests of its outputs as JSON.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Codec } from '../../core/codec/index.ts';

const CASES: Array<[number, number, number]> = [
  [3, 10, 131_075],
  [10, 14, 4_099],
  [71, 255, 777],
  [1, 1, 33],
  [255, 256, 65],
];

function data(k: number, len: number, seed: number): Uint8Array[] {
  let x = seed;
  return Array.from({ length: k }, () => {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = x >>> 24;
    }
    return b;
  });
}

/** SHA-256 of every encode output and of a worst-case decode, per case. */
export function relaxedCaseDigests(codec: Codec): string[] {
  return CASES.map(([k, n, len], i) => {
    const h = createHash('sha256');
    const all = codec.encode(k, n, data(k, len, i + 1));
    for (const b of all) h.update(b);
    const worst = Array.from({ length: k }, (_, j) => n - 1 - j);
    for (const b of codec.decode(
      k,
      n,
      worst.map((s) => all[s]),
      worst,
    ))
      h.update(b);
    return h.digest('hex');
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { loadCodec } = await import('../../core/codec/index.ts');
  const codec = await loadCodec({ variant: 'relaxed' });
  console.log(JSON.stringify({ variant: codec.variant, digests: relaxedCaseDigests(codec) }));
}
