/**
 * CBOR for frames, our own small codec (cbor-encode.ts, cbor-decode.ts): one exact-size
 * buffer per encoded frame, byte strings decoded as views instead of copies, and a decoder
 * locked down for hostile input. Property-tested against cborg (test/unit/frames-cbor.test.ts).
 */
import { decodeFrameCbor } from './cbor-decode.ts';
import { encodeFrameCbor } from './cbor-encode.ts';
import { ProtocolError } from './errors.ts';

/** A Uint8Array of exactly the encoded size, from `alloc` if given (e.g. a BufferPool). */
export function encodeCbor(value: unknown, alloc?: (size: number) => Uint8Array): Uint8Array {
  return encodeFrameCbor(value, alloc);
}

/**
 * Decodes one frame of at most `maxBytes`. Byte strings in the result are views of
 * `bytes`: copy any you keep beyond the frame's life if `bytes` may be reused.
 */
export function decodeCbor(bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.length > maxBytes) {
    throw new ProtocolError('BAD_FRAME', `frame of ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  }
  return decodeFrameCbor(bytes);
}

/** Typed access to a decoded CBOR map, naming the field in every error. */
export class Fields {
  private readonly obj: Record<string, unknown>;
  constructor(
    value: unknown,
    private readonly what: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
      throw bad(`${what} must be a map`);
    }
    this.obj = value as Record<string, unknown>;
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined;
  }

  raw(name: string): unknown {
    return this.obj[name];
  }

  bytes(name: string, min: number, max = min): Uint8Array {
    const v = this.obj[name];
    if (!(v instanceof Uint8Array)) throw bad(`${this.what}.${name} must be a byte string`);
    if (v.length < min || v.length > max) {
      throw bad(
        min === max
          ? `${this.what}.${name} must be ${min} bytes, not ${v.length}`
          : `${this.what}.${name} must be ${min}..${max} bytes, not ${v.length}`,
      );
    }
    return v;
  }

  uint(name: string, max: number): number {
    return checkUint(this.obj[name], max, `${this.what}.${name}`);
  }

  string(name: string, maxChars: number): string {
    const v = this.obj[name];
    if (typeof v !== 'string') throw bad(`${this.what}.${name} must be text`);
    if (v.length > maxChars) throw bad(`${this.what}.${name} is longer than ${maxChars} characters`);
    return v;
  }

  bool(name: string): boolean {
    const v = this.obj[name];
    if (typeof v !== 'boolean') throw bad(`${this.what}.${name} must be true or false`);
    return v;
  }

  array(name: string, maxItems: number): unknown[] {
    return checkArray(this.obj[name], maxItems, `${this.what}.${name}`);
  }
}

export function checkUint(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${what} must be a whole number`);
  if (v > max) throw bad(`${what} must be at most ${max}, not ${v}`);
  return v;
}

export function checkArray(v: unknown, maxItems: number, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} must be a list`);
  if (v.length > maxItems) throw bad(`${what} has more than ${maxItems} items`);
  return v;
}

function bad(message: string): ProtocolError {
  return new ProtocolError('BAD_REQUEST', message);
}
