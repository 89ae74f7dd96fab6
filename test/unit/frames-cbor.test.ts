/**
 * The frame CBOR decoder against cborg's encoder: every value of the kinds frames use
 * round-trips; arbitrary bytes only ever yield a value or a ProtocolError.
 */
import { decode, encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrameCbor } from '../../core/protocol/cbor-decode.ts';
import { encodeFrameCbor } from '../../core/protocol/cbor-encode.ts';
import { ProtocolError } from '../../core/protocol/errors.ts';

const leaf = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.integer({ min: -(2 ** 53) + 1, max: -1 }),
  // cborg writes -0 as the integer 0.
  fc.double({ noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 300 }),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    leaf,
    fc.array(tie('v'), { maxLength: 8 }),
    fc.dictionary(fc.string(), tie('v'), { maxKeys: 8 }),
  ),
})).v;

describe('frame CBOR decoder', () => {
  it('round-trips what cborg encodes', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(decodeFrameCbor(new Uint8Array(encode(v)))).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes what cborg and our decoder read back unchanged', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeFrameCbor(v);
        expect(decode(bytes)).toEqual(v);
        expect(decodeFrameCbor(bytes)).toEqual(v);
      }),
      { numRuns: 500 },
    );
    // Byte-identical to cborg where cborg's canonical key order is the insertion order.
    const v = { a: { sh: 3, si: new Uint8Array(16), data: new Uint8Array(70_000) }, i: 7, o: 'write' };
    expect(Buffer.from(encodeFrameCbor(v)).equals(Buffer.from(encode(v)))).toBe(true);
    expect(() => encodeFrameCbor({ x: 2n })).toThrow(TypeError);
    expect(() => encodeFrameCbor(new Map())).toThrow(TypeError);
  });

  it('gives views, not copies, of byte strings', () => {
    const frame = encode({ data: new Uint8Array([1, 2, 3]) });
    const out = decodeFrameCbor(frame) as { data: Uint8Array };
    expect(out.data.buffer).toBe(frame.buffer);
  });

  it('answers arbitrary and mutated bytes with a value or a ProtocolError, nothing else', () => {
    /** The decoder's answer: its value, or the error it threw (checked by the caller, outside any catch). */
    const answer = (bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; error: unknown } => {
      try {
        return { ok: true, value: decodeFrameCbor(bytes) };
      } catch (error) {
        return { ok: false, error };
      }
    };
    const seen = { accepted: 0, refused: 0, agreed: 0 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const a = answer(bytes);
        if (a.ok) seen.accepted++;
        else {
          seen.refused++;
          expect(a.error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(value, fc.nat(), fc.nat(255), (v, at, x) => {
        const bytes = new Uint8Array(encode(v));
        bytes[at % bytes.length] ^= x;
        const a = answer(bytes);
        if (!a.ok) {
          seen.refused++;
          expect(a.error).toBeInstanceOf(ProtocolError);
          return;
        }
        seen.accepted++;
        // Where both accept, both read the same value.
        let theirs: unknown;
        try {
          theirs = decode(bytes, { rejectDuplicateMapKeys: true });
        } catch {
          return; // only values both decoders accept are compared
        }
        seen.agreed++;
        expect(a.value).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
    // Both answers really happen: the properties above did not pass by refusing everything.
    expect(seen.accepted, JSON.stringify(seen)).toBeGreaterThan(500);
    expect(seen.refused, JSON.stringify(seen)).toBeGreaterThan(500);
    expect(seen.agreed, JSON.stringify(seen)).toBeGreaterThan(500);
  });

  it('refuses negative integers past -(2^53 - 1) (found by fast-check: a mutated -9007199254740940)', () => {
    // encode(-9007199254740940) with one byte changed: major type 1, argument 2^53 - 1.
    const bytes = new Uint8Array([0x3b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(() => decodeFrameCbor(bytes)).toThrow(ProtocolError);
    expect(() => decodeFrameCbor(bytes)).toThrow(/-2\^53/);
    // The smallest safe integer still reads.
    const min = new Uint8Array(encode(Number.MIN_SAFE_INTEGER));
    expect(decodeFrameCbor(min)).toBe(Number.MIN_SAFE_INTEGER);
  });

  it('keeps "__proto__" a plain key and refuses duplicates, tags, indefinite lengths, trailing bytes', () => {
    const out = decodeFrameCbor(
      new Uint8Array([0xa1, 0x69, ...new TextEncoder().encode('__proto__'), 0x01]),
    ) as object;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(() => decodeFrameCbor(new Uint8Array([0xa2, 0x61, 0x61, 1, 0x61, 0x61, 2]))).toThrow(
      /repeats a key/,
    );
    expect(() => decodeFrameCbor(new Uint8Array([0xc2, 0x41, 0x01]))).toThrow(/tags/);
    expect(() => decodeFrameCbor(new Uint8Array([0x5f, 0xff]))).toThrow(/indefinite/);
    expect(() => decodeFrameCbor(new Uint8Array([0x01, 0x02]))).toThrow(/trailing/);
    expect(() => decodeFrameCbor(new Uint8Array([0x9b, 0, 0, 0, 1, 0, 0, 0, 0]))).toThrow(
      /longer than the frame/,
    );
    expect(() => decodeFrameCbor(new Uint8Array([0x1b, 0xff, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/2\^53/);
  });
});
