/**
 * The zfec-compatible codec over one loaded wasm kernel. It owns the kernel's memory
 * layout, validates arguments at the door, and caches coefficient matrices: the encode
 * matrix per (k, N) and decode matrices per share-number set (downloads keep the same
 * k shares for every segment). After the first call at a given size, nothing is
 * allocated on the hot path except the result arrays of encode()/decode() (encodeInto,
 * decodeInto and the *Views forms allocate nothing once a share set is cached).
 */
import type { KernelExports } from '../../wasm/src/load.ts';
import { CodecError } from './errors.ts';

export const MAX_SHARES = 256;

export interface Codec {
  /** Which build runs: 'relaxed', 'simd' or 'scalar'. */
  readonly variant: string;
  /**
   * Encodes k equal-length blocks into all N blocks, as zfec does: blocks 0..k-1 are
   * copies of the inputs, k..N-1 parity. Every returned array is fresh and the caller's.
   */
  encode(k: number, n: number, blocks: Uint8Array[]): Uint8Array[];
  /**
   * Recovers the k data blocks, in order 0..k-1, from exactly k blocks given with their
   * distinct share numbers (any order). Returned arrays are fresh and the caller's.
   */
  decode(k: number, n: number, blocks: Uint8Array[], shareNums: number[]): Uint8Array[];
  /**
   * Hot-loop encode: writes the N-k parity blocks (shares k..N-1) into the caller's
   * `parity` arrays (N-k of them, each as long as a data block). Allocates nothing.
   */
  encodeInto(k: number, n: number, blocks: Uint8Array[], parity: Uint8Array[]): void;
  /**
   * Hot-loop decode: writes data blocks 0..k-1 into the caller's `out` arrays (k of them,
   * each as long as a block; they must not overlap the inputs). Allocates nothing once
   * the share set's matrix is cached.
   */
  decodeInto(k: number, n: number, blocks: Uint8Array[], shareNums: number[], out: Uint8Array[]): void;
  /**
   * Zero-copy encode: the N-k parity blocks as views into the codec's wasm memory. They
   * are valid only until the next call on this codec (read, hash or copy them first) and
   * cannot be transferred to another thread.
   */
  parityViews(k: number, n: number, blocks: Uint8Array[]): Uint8Array[];
  /**
   * Zero-copy decode: data blocks 0..k-1, each either the caller's own input array (a data
   * share that was given) or a view into wasm memory valid until the next call.
   */
  decodeViews(k: number, n: number, blocks: Uint8Array[], shareNums: number[]): Uint8Array[];
}

// Layout above the kernel's heapStart (all offsets 64-byte aligned). Table areas hold
// rows·k·32 bytes with rows·k ≤ 128·128, the largest product of parity (or missing) rows
// and k for N ≤ 256.
const KIB = 1024;
const SHARES = 0;
const INVERSE = 64 * KIB;
const ENC_COEF = 128 * KIB;
const DEC_COEF = 192 * KIB;
const ENC_TAB = 256 * KIB;
const DEC_TAB = 768 * KIB;
const DATA = 1280 * KIB;
const PAGE = 64 * KIB;
const DECODE_CACHE_LIMIT = 256;

interface ShareSet {
  readonly k: number;
  readonly n: number;
  /** The share numbers as the caller gave them. */
  readonly given: number[];
  /** Positions of the given blocks, sorted by share number. */
  readonly order: number[];
  readonly sorted: number[];
  readonly key: string;
  readonly plan: DecodePlan;
}

interface DecodePlan {
  /** Data indices not among the given shares, ascending. */
  readonly missing: number[];
  /** missing.length × k coefficients over the blocks sorted by share number. */
  readonly coef: Uint8Array;
}

export function checkParams(k: number, n: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n < k || n > MAX_SHARES) {
    throw new CodecError('BAD_PARAMS', `need integers 1 <= k <= N <= ${MAX_SHARES}, got k=${k} N=${n}`);
  }
}

/** The common block length; throws unless there are `count` blocks of equal length. */
function blockLength(blocks: Uint8Array[], count: number, what: string): number {
  if (!Array.isArray(blocks) || blocks.length !== count) {
    throw new CodecError('BAD_BLOCKS', `expected ${count} ${what}, got ${blocks?.length}`);
  }
  const len = blocks[0]?.length;
  for (let i = 0; i < count; i++) {
    const b = blocks[i];
    if (!(b instanceof Uint8Array)) throw new CodecError('BAD_BLOCKS', `${what} ${i} is not a Uint8Array`);
    if (b.length !== len) {
      throw new CodecError('BAD_BLOCKS', `${what} ${i} is ${b.length} bytes, ${what} 0 is ${len}`);
    }
  }
  return len;
}

function checkOutputs(out: Uint8Array[], count: number, len: number, what: string): void {
  if (count === 0 && (!Array.isArray(out) || out.length === 0)) return;
  const outLen = blockLength(out, count, what);
  if (outLen !== len) throw new CodecError('BAD_BLOCKS', `${what} are ${outLen} bytes, blocks are ${len}`);
}

/** Share numbers sorted ascending with their positions; throws on any bad or repeated number. */
function sortShares(k: number, n: number, shareNums: number[]): { order: number[]; sorted: number[] } {
  if (!Array.isArray(shareNums) || shareNums.length !== k) {
    throw new CodecError('BAD_SHARES', `expected ${k} share numbers, got ${shareNums?.length}`);
  }
  const order = shareNums.map((_, i) => i).sort((a, b) => shareNums[a] - shareNums[b]);
  const sorted = order.map((i) => shareNums[i]);
  for (let i = 0; i < k; i++) {
    const s = sorted[i];
    if (!Number.isInteger(s) || s < 0 || s >= n) {
      throw new CodecError('BAD_SHARES', `share number ${s} is outside 0..${n - 1}`);
    }
    if (i > 0 && sorted[i - 1] === s) throw new CodecError('BAD_SHARES', `share number ${s} given twice`);
  }
  return { order, sorted };
}

const roundUp64 = (x: number) => (x + 63) & ~63;

export class WasmCodec implements Codec {
  readonly variant: string;
  readonly #k: KernelExports;
  readonly #base: number;
  #bytes: Uint8Array;
  readonly #encMatrices = new Map<number, Uint8Array>();
  readonly #decPlans = new Map<string, DecodePlan>();
  #encKey = -1;
  #decKey = '';
  #lastSet: ShareSet | undefined;
  readonly #viewCache = {
    buffer: undefined as ArrayBufferLike | undefined,
    output: 0,
    stride: 0,
    len: 0,
    views: [] as Uint8Array[],
  };

  constructor(kernel: KernelExports, variant: string) {
    this.#k = kernel;
    this.variant = variant;
    this.#base = kernel.heapStart();
    this.#bytes = new Uint8Array(kernel.memory.buffer);
    this.#reserve(DATA);
  }

  /** Grows wasm memory to hold `size` bytes past the base; returns the current view. */
  #reserve(size: number): Uint8Array {
    const need = this.#base + size;
    const mem = this.#k.memory;
    if (mem.buffer.byteLength < need) {
      try {
        mem.grow(Math.ceil((need - mem.buffer.byteLength) / PAGE));
      } catch (cause) {
        throw new CodecError('TOO_LARGE', `blocks need ${need} bytes of wasm memory`, { cause });
      }
    }
    if (this.#bytes.buffer !== mem.buffer) this.#bytes = new Uint8Array(mem.buffer);
    return this.#bytes;
  }

  /**
   * Views of `rows` output rows in wasm memory. Cached while the geometry and the memory
   * buffer stay the same, so the hot loop creates no view objects.
   */
  #rowViews(output: number, stride: number, len: number, rows: number): Uint8Array[] {
    const c = this.#viewCache;
    if (c.buffer !== this.#bytes.buffer || c.output !== output || c.stride !== stride || c.len !== len) {
      c.buffer = this.#bytes.buffer;
      c.output = output;
      c.stride = stride;
      c.len = len;
      c.views.length = 0;
    }
    for (let r = c.views.length; r < rows; r++) {
      c.views.push(this.#bytes.subarray(output + r * stride, output + r * stride + len));
    }
    return c.views;
  }

  /** Parity coefficients for (k, n), computed once and kept. */
  #encodeMatrix(k: number, n: number): Uint8Array {
    const key = k * 1000 + n;
    let coef = this.#encMatrices.get(key);
    if (!coef) {
      const at = this.#base + ENC_COEF;
      this.#k.encodeMatrix(k, n, at);
      coef = this.#reserve(DATA).slice(at, at + (n - k) * k);
      this.#encMatrices.set(key, coef);
    }
    return coef;
  }

  /** Makes ENC_COEF/ENC_TAB hold (k, n)'s parity rows. */
  #useEncode(k: number, n: number): void {
    const key = k * 1000 + n;
    if (this.#encKey === key) return;
    const coef = this.#encodeMatrix(k, n);
    this.#reserve(DATA).set(coef, this.#base + ENC_COEF);
    this.#k.prepare(this.#base + ENC_COEF, n - k, k, this.#base + ENC_TAB);
    this.#encKey = key;
  }

  #decodePlan(k: number, n: number, sorted: number[], key: string): DecodePlan {
    let plan = this.#decPlans.get(key);
    if (plan) return plan;
    const mem = this.#reserve(DATA);
    const present = new Uint8Array(k);
    for (const s of sorted) if (s < k) present[s] = 1;
    const missing: number[] = [];
    for (let j = 0; j < k; j++) if (!present[j]) missing.push(j);
    const coef = new Uint8Array(missing.length * k);
    if (missing.length > 0) {
      mem.set(sorted, this.#base + SHARES);
      const inv = this.#base + INVERSE;
      if (this.#k.decodeMatrix(k, n, this.#base + SHARES, inv) !== 0) {
        throw new CodecError('BAD_SHARES', 'share numbers do not give an invertible matrix');
      }
      missing.forEach((j, r) => {
        coef.set(mem.subarray(inv + j * k, inv + (j + 1) * k), r * k);
      });
    }
    plan = { missing, coef };
    if (this.#decPlans.size >= DECODE_CACHE_LIMIT) {
      this.#decPlans.delete(this.#decPlans.keys().next().value as string);
    }
    this.#decPlans.set(key, plan);
    return plan;
  }

  encode(k: number, n: number, blocks: Uint8Array[]): Uint8Array[] {
    checkParams(k, n);
    const len = blockLength(blocks, k, 'blocks');
    const parity: Uint8Array[] = [];
    for (let i = k; i < n; i++) parity.push(new Uint8Array(len));
    this.encodeInto(k, n, blocks, parity);
    return [...blocks.map((b) => b.slice()), ...parity];
  }

  /** Codes the parity rows into wasm memory; returns where row 0 starts (rows are `stride` apart). */
  #encodeCore(k: number, n: number, blocks: Uint8Array[], len: number): number {
    const rows = n - k;
    this.#useEncode(k, n);
    const stride = roundUp64(len);
    const input = this.#base + DATA;
    const output = input + k * stride;
    const mem = this.#reserve(DATA + (k + rows) * stride);
    for (let j = 0; j < k; j++) mem.set(blocks[j], input + j * stride);
    this.#k.mulRows(this.#base + ENC_COEF, this.#base + ENC_TAB, rows, k, input, stride, output, len);
    return output;
  }

  encodeInto(k: number, n: number, blocks: Uint8Array[], parity: Uint8Array[]): void {
    checkParams(k, n);
    const len = blockLength(blocks, k, 'blocks');
    const rows = n - k;
    checkOutputs(parity, rows, len, 'parity buffers');
    if (rows === 0 || len === 0) return;
    const views = this.#rowViews(this.#encodeCore(k, n, blocks, len), roundUp64(len), len, rows);
    for (let r = 0; r < rows; r++) parity[r].set(views[r]);
  }

  parityViews(k: number, n: number, blocks: Uint8Array[]): Uint8Array[] {
    checkParams(k, n);
    const len = blockLength(blocks, k, 'blocks');
    const rows = n - k;
    if (rows === 0) return [];
    if (len === 0) return Array.from({ length: rows }, () => new Uint8Array(0));
    return this.#rowViews(this.#encodeCore(k, n, blocks, len), roundUp64(len), len, rows).slice(0, rows);
  }

  decode(k: number, n: number, blocks: Uint8Array[], shareNums: number[]): Uint8Array[] {
    checkParams(k, n);
    const len = blockLength(blocks, k, 'blocks');
    const out: Uint8Array[] = [];
    for (let j = 0; j < k; j++) out.push(new Uint8Array(len));
    this.decodeInto(k, n, blocks, shareNums, out);
    return out;
  }

  /**
   * The sorted share set and its plan. A download passes the same share numbers segment
   * after segment, so the previous call's answer is checked first, without allocating.
   */
  #shareSet(k: number, n: number, shareNums: number[]): ShareSet {
    const last = this.#lastSet;
    if (last && last.k === k && last.n === n && Array.isArray(shareNums) && shareNums.length === k) {
      let same = true;
      for (let i = 0; i < k; i++) {
        if (shareNums[i] !== last.given[i]) {
          same = false;
          break;
        }
      }
      if (same) return last;
    }
    const { order, sorted } = sortShares(k, n, shareNums);
    const key = `${k},${n}:${sorted.join(',')}`;
    const set: ShareSet = {
      k,
      n,
      given: shareNums.slice(),
      order,
      sorted,
      key,
      plan: this.#decodePlan(k, n, sorted, key),
    };
    this.#lastSet = set;
    return set;
  }

  /** Rebuilds the missing data rows into wasm memory; returns where row 0 starts. */
  #decodeCore(set: ShareSet, blocks: Uint8Array[], len: number): number {
    const { k, plan, order, key } = set;
    const rows = plan.missing.length;
    if (this.#decKey !== key) {
      this.#reserve(DATA).set(plan.coef, this.#base + DEC_COEF);
      this.#k.prepare(this.#base + DEC_COEF, rows, k, this.#base + DEC_TAB);
      this.#decKey = key;
    }
    const stride = roundUp64(len);
    const input = this.#base + DATA;
    const output = input + k * stride;
    const mem = this.#reserve(DATA + (k + rows) * stride);
    for (let a = 0; a < k; a++) mem.set(blocks[order[a]], input + a * stride);
    this.#k.mulRows(this.#base + DEC_COEF, this.#base + DEC_TAB, rows, k, input, stride, output, len);
    return output;
  }

  decodeInto(k: number, n: number, blocks: Uint8Array[], shareNums: number[], out: Uint8Array[]): void {
    checkParams(k, n);
    const len = blockLength(blocks, k, 'blocks');
    const set = this.#shareSet(k, n, shareNums);
    checkOutputs(out, k, len, 'output buffers');
    const { missing } = set.plan;
    if (missing.length > 0 && len > 0) {
      const views = this.#rowViews(this.#decodeCore(set, blocks, len), roundUp64(len), len, missing.length);
      for (let r = 0; r < missing.length; r++) out[missing[r]].set(views[r]);
    }
    for (let a = 0; a < k; a++) {
      if (set.sorted[a] < k) out[set.sorted[a]].set(blocks[set.order[a]]);
    }
  }

  decodeViews(k: number, n: number, blocks: Uint8Array[], shareNums: number[]): Uint8Array[] {
    checkParams(k, n);
    const len = blockLength(blocks, k, 'blocks');
    const set = this.#shareSet(k, n, shareNums);
    const out: Uint8Array[] = new Array(k);
    for (let a = 0; a < k; a++) if (set.sorted[a] < k) out[set.sorted[a]] = blocks[set.order[a]];
    const { missing } = set.plan;
    if (missing.length > 0) {
      const views =
        len > 0
          ? this.#rowViews(this.#decodeCore(set, blocks, len), roundUp64(len), len, missing.length)
          : [];
      for (let r = 0; r < missing.length; r++) out[missing[r]] = len > 0 ? views[r] : new Uint8Array(0);
    }
    return out;
  }
}
