// GF(2^8) with zfec's field (poly 0x11D, generator 2) and zfec's systematic matrix
// (reference/tahoe-formats.md §3). Shared by every build; nothing here needs SIMD.
// Tables live in static memory and are filled once by initTables() at module start.

/** exp[i] = 2^i for i in 0..509, doubled so exp[log a + log b] needs no modulo. */
const EXP: usize = memory.data(512, 64);
/** log[a] for a in 1..255 (log[0] is unused). */
const LOG: usize = memory.data(256, 64);
/** MUL[c << 8 | x] = c·x: zfec's own 64 KiB table, used by the scalar kernel and tails. */
export const MUL: usize = memory.data(65536, 64);
/** NIB[c * 32 ..]: 16 products c·x (x < 16), then 16 products c·(x << 4), for split-nibble SIMD. */
export const NIB: usize = memory.data(8192, 64);

// Scratch for matrix work: k ≤ 256, so one k×k matrix fits in 64 KiB.
const SCR_A: usize = memory.data(65536, 64);
const SCR_B: usize = memory.data(65536, 64);
const SCR_C: usize = memory.data(65536, 64);

export function initTables(): void {
  let x: u32 = 1;
  for (let i = 0; i < 255; i++) {
    store<u8>(EXP + i, x as u8);
    store<u8>(EXP + i + 255, x as u8);
    store<u8>(LOG + x, i as u8);
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  store<u8>(EXP + 510, load<u8>(EXP));
  store<u8>(EXP + 511, load<u8>(EXP + 1));
  for (let c: u32 = 0; c < 256; c++) {
    for (let v: u32 = 0; v < 256; v++) store<u8>(MUL + (c << 8) + v, gfMul(c, v));
    for (let v: u32 = 0; v < 16; v++) {
      store<u8>(NIB + c * 32 + v, gfMul(c, v));
      store<u8>(NIB + c * 32 + 16 + v, gfMul(c, v << 4));
    }
  }
}

export function gfMul(a: u32, b: u32): u8 {
  if (a === 0 || b === 0) return 0;
  return load<u8>(EXP + <usize>load<u8>(LOG + a) + <usize>load<u8>(LOG + b));
}

function gfInv(a: u32): u8 {
  return load<u8>(EXP + 255 - <usize>load<u8>(LOG + a));
}

/** α^e for any e ≥ 0. */
function gfPow2(e: u32): u8 {
  return load<u8>(EXP + <usize>(e % 255));
}

/**
 * Inverts the k×k matrix at `a` (destroyed) into `inv` by Gauss-Jordan elimination.
 * Returns false when it is singular (which zfec's matrices never are for distinct rows).
 */
export function invert(a: usize, inv: usize, k: i32): bool {
  const n = <usize>k;
  memory.fill(inv, 0, n * n);
  for (let i: usize = 0; i < n; i++) store<u8>(inv + i * n + i, 1);
  for (let col: usize = 0; col < n; col++) {
    let p = col;
    while (p < n && load<u8>(a + p * n + col) === 0) p++;
    if (p === n) return false;
    if (p !== col) {
      for (let c: usize = 0; c < n; c++) {
        let t = load<u8>(a + p * n + c);
        store<u8>(a + p * n + c, load<u8>(a + col * n + c));
        store<u8>(a + col * n + c, t);
        t = load<u8>(inv + p * n + c);
        store<u8>(inv + p * n + c, load<u8>(inv + col * n + c));
        store<u8>(inv + col * n + c, t);
      }
    }
    // Scale the pivot row to 1.
    const s = (<usize>gfInv(load<u8>(a + col * n + col))) << 8;
    for (let c: usize = 0; c < n; c++) {
      store<u8>(a + col * n + c, load<u8>(MUL + s + load<u8>(a + col * n + c)));
      store<u8>(inv + col * n + c, load<u8>(MUL + s + load<u8>(inv + col * n + c)));
    }
    // Clear the column in every other row.
    for (let r: usize = 0; r < n; r++) {
      if (r === col) continue;
      const f = (<usize>load<u8>(a + r * n + col)) << 8;
      if (f === 0) continue;
      for (let c: usize = 0; c < n; c++) {
        store<u8>(a + r * n + c, load<u8>(a + r * n + c) ^ load<u8>(MUL + f + load<u8>(a + col * n + c)));
        store<u8>(
          inv + r * n + c,
          load<u8>(inv + r * n + c) ^ load<u8>(MUL + f + load<u8>(inv + col * n + c)),
        );
      }
    }
  }
  return true;
}

/** Vandermonde entry V[r][c] = x_r^c with x_0 = 0, x_r = α^(r-1), and 0^0 = 1. */
function vand(r: u32, c: u32): u8 {
  if (r === 0) return c === 0 ? 1 : 0;
  return gfPow2((r - 1) * c);
}

/**
 * Writes the parity rows k..n-1 of zfec's matrix E = V · V_top^-1, row-major
 * ((n-k)·k bytes) at `out`. Rows 0..k-1 are the identity and are not written.
 */
export function encodeMatrix(k: i32, n: i32, out: usize): void {
  const kk = <usize>k;
  for (let r: u32 = 0; r < <u32>k; r++) {
    for (let c: u32 = 0; c < <u32>k; c++) store<u8>(SCR_A + <usize>r * kk + <usize>c, vand(r, c));
  }
  invert(SCR_A, SCR_B, k);
  for (let r: u32 = <u32>k; r < <u32>n; r++) {
    const row = out + <usize>(r - <u32>k) * kk;
    for (let c: usize = 0; c < kk; c++) {
      let acc: u8 = 0;
      for (let i: usize = 0; i < kk; i++) acc ^= gfMul(vand(r, <u32>i), load<u8>(SCR_B + i * kk + c));
      store<u8>(row + c, acc);
    }
  }
}

/**
 * For k distinct share numbers (bytes at `shares`, each < n), writes the k×k inverse of
 * the rows E[shares[a]] at `out`: data block j = XOR_a out[j][a] · block[a].
 * Returns 0, or 1 when the rows are singular (only possible with repeated shares).
 */
export function decodeMatrix(k: i32, n: i32, shares: usize, out: usize): i32 {
  const kk = <usize>k;
  encodeMatrix(k, n, SCR_C);
  for (let a: usize = 0; a < kk; a++) {
    const s = <usize>load<u8>(shares + a);
    const row = SCR_A + a * kk;
    if (s < kk) {
      memory.fill(row, 0, kk);
      store<u8>(row + s, 1);
    } else {
      memory.copy(row, SCR_C + (s - kk) * kk, kk);
    }
  }
  return invert(SCR_A, out, k) ? 0 : 1;
}

/**
 * Byte-at-a-time (8 at a time where it can) multiply-accumulate over [from, to):
 * out_r[t] = XOR_j coef[r][j] · in_j[t]. The scalar build's kernel and every build's tail.
 */
export function mulRowsScalar(
  coef: usize,
  rows: i32,
  k: i32,
  input: usize,
  stride: usize,
  output: usize,
  from: usize,
  to: usize,
): void {
  for (let r = 0; r < rows; r++) {
    const o = output + <usize>r * stride;
    memory.fill(o + from, 0, to - from);
    for (let j = 0; j < k; j++) {
      const c = <usize>load<u8>(coef + <usize>(r * k + j));
      if (c === 0) continue;
      const ip = input + <usize>j * stride;
      let t = from;
      if (c === 1) {
        for (; t + 8 <= to; t += 8) store<u64>(o + t, load<u64>(o + t) ^ load<u64>(ip + t));
        for (; t < to; t++) store<u8>(o + t, load<u8>(o + t) ^ load<u8>(ip + t));
        continue;
      }
      const m = MUL + (c << 8);
      for (; t + 8 <= to; t += 8) {
        const x = load<u64>(ip + t);
        const lo =
          <u32>load<u8>(m + <usize>(x & 0xff)) |
          ((<u32>load<u8>(m + <usize>((x >> 8) & 0xff))) << 8) |
          ((<u32>load<u8>(m + <usize>((x >> 16) & 0xff))) << 16) |
          ((<u32>load<u8>(m + <usize>((x >> 24) & 0xff))) << 24);
        const hi =
          <u32>load<u8>(m + <usize>((x >> 32) & 0xff)) |
          ((<u32>load<u8>(m + <usize>((x >> 40) & 0xff))) << 8) |
          ((<u32>load<u8>(m + <usize>((x >> 48) & 0xff))) << 16) |
          ((<u32>load<u8>(m + <usize>(x >> 56))) << 24);
        store<u64>(o + t, load<u64>(o + t) ^ (<u64>lo | ((<u64>hi) << 32)));
      }
      for (; t < to; t++) store<u8>(o + t, load<u8>(o + t) ^ load<u8>(m + <usize>load<u8>(ip + t)));
    }
  }
}
