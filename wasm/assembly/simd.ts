// Split-nibble GF(2^8) multiply-accumulate with v128 (the ISA-L method): c·x is
// lo_c[x & 15] ^ hi_c[x >> 4], two 16-entry tables per coefficient looked up with
// i8x16.swizzle. Four output rows are accumulated per pass over the inputs, 32 bytes at a
// time, so each input vector is loaded and split once for four rows. Relaxed builds use
// i8x16.relaxed_swizzle, which is exact here because every index is < 16. High nibbles
// come from a 16-bit shift plus the mask (two instructions on x64; an 8-bit shift is more).
import { NIB } from './gf';

/** Tables per (row, input): 32 bytes, laid out pass by pass (4 rows), input-major. */
export function simdTableBytes(rows: i32, k: i32): i32 {
  return rows * k * 32;
}

/** Expands the rows×k coefficients at `coef` into the kernel's table layout at `tab`. */
export function simdPrepare(coef: usize, rows: i32, k: i32, tab: usize): void {
  for (let p = 0; p < rows; p += 4) {
    const r4 = min(4, rows - p);
    const base = tab + <usize>(p * k * 32);
    for (let j = 0; j < k; j++) {
      for (let r = 0; r < r4; r++) {
        const c = <usize>load<u8>(coef + <usize>((p + r) * k + j));
        memory.copy(base + <usize>((j * r4 + r) * 32), NIB + c * 32, 32);
      }
    }
  }
}

function swz(table: v128, idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, idx);
  return i8x16.swizzle(table, idx);
}

function mul(tp: usize, lo: v128, hi: v128): v128 {
  return v128.xor(swz(v128.load(tp), lo), swz(v128.load(tp, 16), hi));
}

function pass4(tab: usize, k: i32, input: usize, stride: usize, out: usize, end: usize): void {
  const mask = i8x16.splat(0x0f);
  for (let t: usize = 0; t < end; t += 32) {
    let a0 = i8x16.splat(0);
    let b0 = a0;
    let a1 = a0;
    let b1 = a0;
    let a2 = a0;
    let b2 = a0;
    let a3 = a0;
    let b3 = a0;
    let ip = input + t;
    let tp = tab;
    for (let j = 0; j < k; j++) {
      const x0 = v128.load(ip);
      const x1 = v128.load(ip, 16);
      const l0 = v128.and(x0, mask);
      const h0 = v128.and(i16x8.shr_u(x0, 4), mask);
      const l1 = v128.and(x1, mask);
      const h1 = v128.and(i16x8.shr_u(x1, 4), mask);
      a0 = v128.xor(a0, mul(tp, l0, h0));
      b0 = v128.xor(b0, mul(tp, l1, h1));
      a1 = v128.xor(a1, mul(tp + 32, l0, h0));
      b1 = v128.xor(b1, mul(tp + 32, l1, h1));
      a2 = v128.xor(a2, mul(tp + 64, l0, h0));
      b2 = v128.xor(b2, mul(tp + 64, l1, h1));
      a3 = v128.xor(a3, mul(tp + 96, l0, h0));
      b3 = v128.xor(b3, mul(tp + 96, l1, h1));
      ip += stride;
      tp += 128;
    }
    const o = out + t;
    v128.store(o, a0);
    v128.store(o, b0, 16);
    v128.store(o + stride, a1);
    v128.store(o + stride, b1, 16);
    v128.store(o + 2 * stride, a2);
    v128.store(o + 2 * stride, b2, 16);
    v128.store(o + 3 * stride, a3);
    v128.store(o + 3 * stride, b3, 16);
  }
}

function pass3(tab: usize, k: i32, input: usize, stride: usize, out: usize, end: usize): void {
  const mask = i8x16.splat(0x0f);
  for (let t: usize = 0; t < end; t += 32) {
    let a0 = i8x16.splat(0);
    let b0 = a0;
    let a1 = a0;
    let b1 = a0;
    let a2 = a0;
    let b2 = a0;
    let ip = input + t;
    let tp = tab;
    for (let j = 0; j < k; j++) {
      const x0 = v128.load(ip);
      const x1 = v128.load(ip, 16);
      const l0 = v128.and(x0, mask);
      const h0 = v128.and(i16x8.shr_u(x0, 4), mask);
      const l1 = v128.and(x1, mask);
      const h1 = v128.and(i16x8.shr_u(x1, 4), mask);
      a0 = v128.xor(a0, mul(tp, l0, h0));
      b0 = v128.xor(b0, mul(tp, l1, h1));
      a1 = v128.xor(a1, mul(tp + 32, l0, h0));
      b1 = v128.xor(b1, mul(tp + 32, l1, h1));
      a2 = v128.xor(a2, mul(tp + 64, l0, h0));
      b2 = v128.xor(b2, mul(tp + 64, l1, h1));
      ip += stride;
      tp += 96;
    }
    const o = out + t;
    v128.store(o, a0);
    v128.store(o, b0, 16);
    v128.store(o + stride, a1);
    v128.store(o + stride, b1, 16);
    v128.store(o + 2 * stride, a2);
    v128.store(o + 2 * stride, b2, 16);
  }
}

function pass2(tab: usize, k: i32, input: usize, stride: usize, out: usize, end: usize): void {
  const mask = i8x16.splat(0x0f);
  for (let t: usize = 0; t < end; t += 32) {
    let a0 = i8x16.splat(0);
    let b0 = a0;
    let a1 = a0;
    let b1 = a0;
    let ip = input + t;
    let tp = tab;
    for (let j = 0; j < k; j++) {
      const x0 = v128.load(ip);
      const x1 = v128.load(ip, 16);
      const l0 = v128.and(x0, mask);
      const h0 = v128.and(i16x8.shr_u(x0, 4), mask);
      const l1 = v128.and(x1, mask);
      const h1 = v128.and(i16x8.shr_u(x1, 4), mask);
      a0 = v128.xor(a0, mul(tp, l0, h0));
      b0 = v128.xor(b0, mul(tp, l1, h1));
      a1 = v128.xor(a1, mul(tp + 32, l0, h0));
      b1 = v128.xor(b1, mul(tp + 32, l1, h1));
      ip += stride;
      tp += 64;
    }
    const o = out + t;
    v128.store(o, a0);
    v128.store(o, b0, 16);
    v128.store(o + stride, a1);
    v128.store(o + stride, b1, 16);
  }
}

function pass1(tab: usize, k: i32, input: usize, stride: usize, out: usize, end: usize): void {
  const mask = i8x16.splat(0x0f);
  for (let t: usize = 0; t < end; t += 32) {
    let a0 = i8x16.splat(0);
    let b0 = a0;
    let ip = input + t;
    let tp = tab;
    for (let j = 0; j < k; j++) {
      const x0 = v128.load(ip);
      const x1 = v128.load(ip, 16);
      a0 = v128.xor(a0, mul(tp, v128.and(x0, mask), v128.and(i16x8.shr_u(x0, 4), mask)));
      b0 = v128.xor(b0, mul(tp, v128.and(x1, mask), v128.and(i16x8.shr_u(x1, 4), mask)));
      ip += stride;
      tp += 32;
    }
    v128.store(out + t, a0);
    v128.store(out + t, b0, 16);
  }
}

/** Fills bytes [0, end) of `rows` outputs; `end` is a multiple of 32. */
export function simdMulRows(
  tab: usize,
  rows: i32,
  k: i32,
  input: usize,
  stride: usize,
  output: usize,
  end: usize,
): void {
  for (let p = 0; p < rows; p += 4) {
    const r4 = rows - p;
    const t = tab + <usize>(p * k * 32);
    const o = output + <usize>p * stride;
    if (r4 >= 4) pass4(t, k, input, stride, o, end);
    else if (r4 === 3) pass3(t, k, input, stride, o, end);
    else if (r4 === 2) pass2(t, k, input, stride, o, end);
    else pass1(t, k, input, stride, o, end);
  }
}
