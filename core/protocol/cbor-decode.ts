/**
 * A small CBOR decoder for frames (RFC 8949 subset), written for hostile input and for
 * speed: byte strings come back as views into the frame, not copies, so a 1 MiB write or
 * read costs no extra copy (cborg copies every byte string). Accepted: safe integers
 * (|n| < 2^53), floats, byte strings, UTF-8 text, arrays, maps with text keys (no duplicates),
 * false/true/null; numbers of the wrong kind are left for the field checks to refuse,
 * naming the field and the request. Refused here: tags, undefined, indefinite lengths,
 * nesting deeper than MAX_DEPTH, trailing bytes. Every refusal is a
 * ProtocolError('BAD_FRAME'); no input makes it throw anything else or recurse unbounded.
 */
import { ProtocolError } from './errors.ts';

const MAX_DEPTH = 16;
const text = new TextDecoder('utf-8', { fatal: true });

export function decodeFrameCbor(bytes: Uint8Array): unknown {
  const d = new Decoder(bytes);
  const value = d.item(0);
  if (d.pos !== bytes.length) throw bad('trailing bytes after the frame');
  return value;
}

class Decoder {
  pos = 0;
  private readonly view: DataView;
  constructor(private readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  item(depth: number): unknown {
    if (depth > MAX_DEPTH) throw bad('nested too deeply');
    const initial = this.byte();
    const major = initial >> 5;
    const minor = initial & 31;
    switch (major) {
      case 0:
        return this.arg(minor);
      case 1: {
        // -1 - n must stay a safe integer: n = 2^53 - 1 would give -2^53, which a double
        // cannot tell from its neighbours (cborg reads it as a BigInt).
        const n = this.arg(minor);
        if (n >= Number.MAX_SAFE_INTEGER) throw bad('integer beyond -2^53');
        return -1 - n;
      }
      case 2: {
        const n = this.arg(minor);
        return this.take(n);
      }
      case 3: {
        const n = this.arg(minor);
        try {
          return text.decode(this.take(n));
        } catch (err) {
          if (err instanceof ProtocolError) throw err;
          throw bad('text is not UTF-8');
        }
      }
      case 4: {
        const n = this.arg(minor);
        // Every item takes at least one byte: a count beyond what is left is a lie.
        if (n > this.b.length - this.pos) throw bad('array longer than the frame');
        const out = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5: {
        const n = this.arg(minor);
        if (n > (this.b.length - this.pos) / 2) throw bad('map longer than the frame');
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = this.item(depth + 1);
          if (typeof k !== 'string') throw bad('map keys must be text');
          if (Object.hasOwn(out, k)) throw bad('map repeats a key');
          // defineProperty: a "__proto__" key stays a plain key.
          Object.defineProperty(out, k, {
            value: this.item(depth + 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
      case 7:
        if (minor === 20) return false;
        if (minor === 21) return true;
        if (minor === 22) return null;
        if (minor === 25) return half(this.view.getUint16(this.advance(2)));
        if (minor === 26) return this.view.getFloat32(this.advance(4));
        if (minor === 27) return this.view.getFloat64(this.advance(8));
        throw bad('undefined and simple values are not used in frames');
      default:
        throw bad(
          major === 1
            ? 'negative integers are not used in frames'
            : major === 6
              ? 'tags are not used in frames'
              : 'unknown CBOR type',
        );
    }
  }

  private byte(): number {
    if (this.pos >= this.b.length) throw bad('frame is truncated');
    return this.b[this.pos++];
  }

  /** The argument after an initial byte: the value, length or count. */
  private arg(minor: number): number {
    if (minor < 24) return minor;
    const at = this.pos;
    switch (minor) {
      case 24:
        this.need(1);
        this.pos += 1;
        return this.b[at];
      case 25:
        this.need(2);
        this.pos += 2;
        return this.view.getUint16(at);
      case 26:
        this.need(4);
        this.pos += 4;
        return this.view.getUint32(at);
      case 27: {
        this.need(8);
        this.pos += 8;
        const hi = this.view.getUint32(at);
        if (hi >= 0x200000) throw bad('integer beyond 2^53');
        return hi * 0x100000000 + this.view.getUint32(at + 4);
      }
      default:
        throw bad('indefinite or reserved length');
    }
  }

  /** Skips n bytes, returning where they start. */
  private advance(n: number): number {
    this.need(n);
    this.pos += n;
    return this.pos - n;
  }

  private need(n: number): void {
    if (this.pos + n > this.b.length) throw bad('frame is truncated');
  }

  private take(n: number): Uint8Array {
    this.need(n);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** IEEE 754 half precision. */
function half(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function bad(why: string): ProtocolError {
  return new ProtocolError('BAD_FRAME', `frame is not acceptable CBOR: ${why}`);
}
