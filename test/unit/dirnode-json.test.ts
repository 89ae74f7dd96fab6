/**
 * pythonJson / pythonFloatRepr against real Python output (test/vectors/python-json.json, made
 * by Python 3.11's json.dumps and repr, see test/vectors/README.md).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonValueError, parseMetadata, pythonFloatRepr, pythonJson } from '../../core/dirnode/index.ts';
import type { JsonValue } from '../../core/dirnode/json.ts';

const fixture = JSON.parse(readFileSync(new URL('../vectors/python-json.json', import.meta.url), 'utf8')) as {
  floats: [string, string][];
  dumps: string[];
};

const fromBits = (hex: string) => new DataView(Uint8Array.from(Buffer.from(hex, 'hex')).buffer).getFloat64(0);

describe('pythonFloatRepr', () => {
  it(`matches Python's repr for all ${fixture.floats.length} doubles of the fixture`, () => {
    expect(fixture.floats.length).toBeGreaterThan(2000);
    const wrong = fixture.floats.filter(([bits, repr]) => pythonFloatRepr(fromBits(bits)) !== repr);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it.each([
    [1.5, '1.5'],
    [1700000000.123456, '1700000000.123456'],
    [1e16, '1e+16'],
    [1e15, '1000000000000000.0'],
    [2.0, '2.0'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1.5e-5, '1.5e-05'],
    [1e22, '1e+22'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [5e-324, '5e-324'],
    [-0, '-0.0'],
    [0.1 + 0.2, '0.30000000000000004'],
    [Number.NaN, 'nan'],
    [-Infinity, '-inf'],
  ])('%s → %s', (x, repr) => {
    expect(pythonFloatRepr(x)).toBe(repr);
  });
});

describe('pythonJson', () => {
  it(`re-spells all ${fixture.dumps.length} of Python's json.dumps outputs exactly`, () => {
    const wrong = fixture.dumps.filter((s) => pythonJson(JSON.parse(s)) !== s);
    expect(wrong.slice(0, 3)).toEqual([]);
    // The fixture exercises what matters: escapes, surrogate pairs, lone surrogates, exponents.
    const all = fixture.dumps.join('');
    for (const needle of ['\\ud83d\\ude00', '\\ud800', '\\u007f', '\\u0000', '\\n', '\\"', 'e-', 'e+']) {
      expect(all).toContain(needle);
    }
  });

  it.each<[JsonValue, string]>([
    [{}, '{}'],
    [[], '[]'],
    [{ a: 1, b: [1, 2.5, true, false, null] }, '{"a": 1, "b": [1, 2.5, true, false, null]}'],
    [{ z: 1, a: 2 }, '{"z": 1, "a": 2}'], // insertion order, not sorted
    [{ k: 'é😀\u2028' }, '{"k": "\\u00e9\\ud83d\\ude00\\u2028"}'],
    ['\b\f\n\r\t"\\/\u007f', '"\\b\\f\\n\\r\\t\\"\\\\/\\u007f"'],
    [12345678901234, '12345678901234'],
    [-5, '-5'],
    [2 ** 53, '9007199254740992.0'], // beyond safe integers, a JS number is a float
    [1e16, '1e+16'],
    [1700000000.5, '1700000000.5'],
    [JSON.parse('{"__proto__": 1}'), '{"__proto__": 1}'],
  ])('%j → %s', (value, text) => {
    expect(pythonJson(value)).toBe(text);
  });

  it('refuses what Python would write differently or JSON cannot hold', () => {
    const cyclic: Record<string, JsonValue> = {};
    cyclic.self = cyclic;
    const bad: unknown[] = [
      Number.NaN,
      Infinity,
      -Infinity,
      undefined,
      () => 1,
      10n,
      Symbol('s'),
      new Date(0),
      new Map(),
      new Uint8Array(1),
      { a: undefined },
      [1, undefined],
      cyclic,
    ];
    for (const v of bad) {
      expect(() => pythonJson(v as JsonValue)).toThrow(JsonValueError);
    }
    // A value seen twice is not a cycle.
    const shared = { x: 1 };
    expect(pythonJson({ a: shared, b: shared })).toBe('{"a": {"x": 1}, "b": {"x": 1}}');
  });

  it('whatever JSON.parse accepts, pythonJson writes as text JSON.parse reads back equal (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(JSON.parse(pythonJson(v as JsonValue))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseMetadata', () => {
  it('takes JSON objects only', () => {
    expect(parseMetadata('{"a": [1]}')).toEqual({ a: [1] });
    for (const text of ['[]', '1', 'null', '"x"', '{', '', 'NaN', '{"a": NaN}']) {
      expect(() => parseMetadata(text)).toThrow(JsonValueError);
    }
  });
});
