// The codec's one ABI, built three ways from this file (scripts/build-wasm.mjs):
// scalar, SIMD (v128) and relaxed SIMD. The loader (wasm/src/load.ts) never branches on
// the build: every build exports the same functions.
//
// Memory: the static data holds the GF tables and matrix scratch; everything from
// heapStart() up belongs to the loader, which lays out coefficient rows, kernel tables
// and block buffers there and grows memory itself. Nothing here allocates.
import { decodeMatrix, encodeMatrix, initTables, mulRowsScalar } from './gf';
import { simdMulRows, simdPrepare, simdTableBytes } from './simd';

initTables();

export { decodeMatrix, encodeMatrix };

/** 0 scalar, 1 SIMD, 2 relaxed SIMD: which build this is. */
export function variant(): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return 2;
  if (ASC_FEATURE_SIMD) return 1;
  return 0;
}

/** First byte the loader may use, 64-byte aligned. */
export function heapStart(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

/** Bytes of kernel tables that prepare() writes for a rows×k coefficient matrix. */
export function tableBytes(rows: i32, k: i32): i32 {
  if (ASC_FEATURE_SIMD) return simdTableBytes(rows, k);
  return 0;
}

/** Turns rows×k coefficients into the kernel's tables (a no-op for the scalar build). */
export function prepare(coef: usize, rows: i32, k: i32, tab: usize): void {
  if (ASC_FEATURE_SIMD) simdPrepare(coef, rows, k, tab);
}

/**
 * out_r[t] = XOR_j coef[r][j] · in_j[t] for r < rows, t < len. Input block j starts at
 * input + j·stride, output row r at output + r·stride. `tab` must hold prepare(coef, …).
 */
export function mulRows(
  coef: usize,
  tab: usize,
  rows: i32,
  k: i32,
  input: usize,
  stride: usize,
  output: usize,
  len: usize,
): void {
  let done: usize = 0;
  if (ASC_FEATURE_SIMD) {
    done = len & ~(<usize>31);
    if (done > 0) simdMulRows(tab, rows, k, input, stride, output, done);
  }
  if (done < len) mulRowsScalar(coef, rows, k, input, stride, output, done, len);
}
