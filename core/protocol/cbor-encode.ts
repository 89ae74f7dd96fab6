/**
 * A small CBOR encoder for frames: sizes the whole value first, then writes it into one
 * buffer of exactly that size, so a 1 MiB byte string is copied once (cborg grows a chunk
 * list and copies again at the end). Encodes the kinds frames use: integers within ±2^53,
 * byte strings, text, arrays, plain-object maps, null, booleans, and other numbers as
 * float64. Anything else (undefined, functions, Maps, bigints) throws a TypeError: a bug
 * in the caller, not bad input from a peer.
 */
const text = new TextEncoder();

export function encodeFrameCbor(
  value: unknown,
  alloc: (size: number) => Uint8Array = (size) => new Uint8Array(size),
): Uint8Array {
  const strings = new Map<string, Uint8Array>();
  const size = sizeOf(value, strings, 0);
  // Every byte of `out` is written below (checked), so a reused buffer leaks nothing old.
  const out = alloc(size);
  const w = new Writer(out, strings);
  w.value(value, 0);
  if (w.pos !== size) throw new Error('CBOR encoder miscounted');
  return out;
}

const MAX_DEPTH = 64;

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function isInt(v: number): boolean {
  return Number.isSafeInteger(v) && !Object.is(v, -0);
}

function utf8(s: string, strings: Map<string, Uint8Array>): Uint8Array {
  let b = strings.get(s);
  if (!b) {
    b = text.encode(s);
    strings.set(s, b);
  }
  return b;
}

function sizeOf(v: unknown, strings: Map<string, Uint8Array>, depth: number): number {
  if (depth > MAX_DEPTH) throw new TypeError('value nested too deeply for a frame');
  if (v === null || v === true || v === false) return 1;
  if (typeof v === 'number') return isInt(v) ? headSize(v < 0 ? -1 - v : v) : 9;
  if (typeof v === 'string') {
    const n = utf8(v, strings).length;
    return headSize(n) + n;
  }
  if (v instanceof Uint8Array) return headSize(v.length) + v.length;
  if (Array.isArray(v)) {
    let n = headSize(v.length);
    for (const x of v) n += sizeOf(x, strings, depth + 1);
    return n;
  }
  if (typeof v === 'object' && isPlainObject(v)) {
    let count = 0;
    let n = 0;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      count++;
      n += sizeOf(k, strings, depth + 1) + sizeOf(x, strings, depth + 1);
    }
    return headSize(count) + n;
  }
  throw new TypeError(`cannot put a ${typeof v} in a frame`);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

class Writer {
  pos = 0;
  private readonly view: DataView;
  constructor(
    private readonly out: Uint8Array,
    private readonly strings: Map<string, Uint8Array>,
  ) {
    this.view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }

  head(major: number, n: number): void {
    const m = major << 5;
    const o = this.out;
    if (n < 24) o[this.pos++] = m | n;
    else if (n < 0x100) {
      o[this.pos++] = m | 24;
      o[this.pos++] = n;
    } else if (n < 0x10000) {
      o[this.pos++] = m | 25;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else if (n < 0x100000000) {
      o[this.pos++] = m | 26;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    } else {
      o[this.pos++] = m | 27;
      this.view.setUint32(this.pos, Math.floor(n / 0x100000000));
      this.view.setUint32(this.pos + 4, n >>> 0);
      this.pos += 8;
    }
  }

  bytes(major: number, b: Uint8Array): void {
    this.head(major, b.length);
    this.out.set(b, this.pos);
    this.pos += b.length;
  }

  value(v: unknown, depth: number): void {
    if (v === null) this.out[this.pos++] = 0xf6;
    else if (v === true) this.out[this.pos++] = 0xf5;
    else if (v === false) this.out[this.pos++] = 0xf4;
    else if (typeof v === 'number') {
      if (isInt(v)) {
        if (v >= 0) this.head(0, v);
        else this.head(1, -1 - v);
      } else {
        this.out[this.pos++] = 0xfb;
        this.view.setFloat64(this.pos, v);
        this.pos += 8;
      }
    } else if (typeof v === 'string') this.bytes(3, utf8(v, this.strings));
    else if (v instanceof Uint8Array) this.bytes(2, v);
    else if (Array.isArray(v)) {
      this.head(4, v.length);
      for (const x of v) this.value(x, depth + 1);
    } else {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      this.head(5, entries.length);
      for (const [k, x] of entries) {
        this.bytes(3, utf8(k, this.strings));
        this.value(x, depth + 1);
      }
    }
  }
}
