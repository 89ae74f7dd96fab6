/**
 * Codec throughput on synthetic segments, shared by `cairn debug fec-bench`, bench/codec.ts
 * and the browser bench page. MB/s counts input bytes (the segment) per second, 10^6 bytes.
 * Decode uses shares N-k..N-1, the worst case (the most data blocks to rebuild).
 */
import type { Codec } from './codec.ts';

export interface SegmentJob {
  readonly k: number;
  readonly n: number;
  /** Input bytes per segment; split into k blocks of ceil(segment / k) bytes, as Tahoe pads. */
  readonly segment: number;
}

export interface PreparedJob extends SegmentJob {
  /** Bytes coded per call (k · block length). */
  readonly bytesPerCall: number;
  encodeOnce(): void;
  decodeOnce(): void;
}

/** Allocates every buffer up front so the timed calls measure the codec, not the GC. */
export function prepareJob(codec: Codec, job: SegmentJob): PreparedJob {
  const { k, n, segment } = job;
  const len = Math.ceil(segment / k);
  const data = Array.from({ length: k }, (_, j) => {
    const b = new Uint8Array(len);
    let x = (j + 1) * 2654435761;
    for (let i = 0; i < len; i++) {
      x = (x ^ (x << 13)) >>> 0;
      x = (x ^ (x >>> 17)) >>> 0;
      x = (x ^ (x << 5)) >>> 0;
      b[i] = x;
    }
    return b;
  });
  const parity = Array.from({ length: n - k }, () => new Uint8Array(len));
  codec.encodeInto(k, n, data, parity);
  const all = [...data, ...parity];
  const worst = Array.from({ length: k }, (_, i) => n - k + i);
  const given = worst.map((s) => all[s]);
  const out = Array.from({ length: k }, () => new Uint8Array(len));
  return {
    ...job,
    bytesPerCall: k * len,
    encodeOnce: () => codec.encodeInto(k, n, data, parity),
    decodeOnce: () => codec.decodeInto(k, n, given, worst, out),
  };
}

/** MB/s of `fn` (coding `bytesPerCall` each time), running for at least `minMs`. */
export function rate(fn: () => void, bytesPerCall: number, minMs: number): number {
  fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (calls * bytesPerCall) / (elapsed * 1000);
}

/**
 * Runs `fn` for `ms` untimed. Engines first run wasm through a baseline compiler and
 * swap in optimised code only on a later call, so figures need a warm-up by time.
 */
export function warmUp(fn: () => void, ms = 250): void {
  const start = performance.now();
  do fn();
  while (performance.now() - start < ms);
}

export interface RateStats {
  median: number;
  min: number;
  max: number;
}

/** Median (and spread) of MB/s over `reps` timed runs of at least `minMs` each, after a warm-up. */
export function rateStats(fn: () => void, bytesPerCall: number, minMs: number, reps: number): RateStats {
  warmUp(fn);
  const rates = Array.from({ length: reps }, () => rate(fn, bytesPerCall, minMs));
  rates.sort((a, b) => a - b);
  return { median: rates[Math.floor(reps / 2)], min: rates[0], max: rates[reps - 1] };
}

/** Median MB/s over `reps` timed runs of at least `minMs` each, after a warm-up. */
export function medianRate(fn: () => void, bytesPerCall: number, minMs: number, reps: number): number {
  return rateStats(fn, bytesPerCall, minMs, reps).median;
}
