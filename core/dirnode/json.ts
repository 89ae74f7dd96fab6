/**
 * JSON exactly as Python's `json.dumps(value)` writes it with default arguments, which is how
 * Tahoe serialises a child's metadata (§5.1): separators `", "` and `": "`, every character
 * outside printable ASCII escaped as `\uXXXX` (lower-case hex, UTF-16 units, so characters
 * beyond the BMP become surrogate pairs), keys in insertion order, floats in Python's repr.
 * An immutable directory's cap hashes these bytes, so "equivalent JSON" is not enough.
 *
 * JS numbers do not say whether Python had an int or a float: safe integers are written as
 * ints (Python's 2.0 comes back as 2), anything else in float repr. Objects keep JS property
 * order, which puts integer-like keys ("10") first. Entries read from Tahoe keep their own
 * bytes when repacked unchanged (see pack.ts), so neither loses anything Tahoe wrote.
 */
import { JsonValueError } from './errors.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A child's metadata: a JSON object. */
export type Metadata = { [key: string]: JsonValue };

/** Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest digits that round-trip, as repr does.
  const [mantissa, e] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(e);
  const decpt = exp + 1; // digits before the decimal point
  if (decpt <= -4 || decpt > 16) {
    const mant = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    const abs = Math.abs(exp);
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${abs < 10 ? `0${abs}` : abs}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** The characters Python escapes by name; every other one outside printable ASCII is `\uXXXX`. */
const NAMED: Readonly<Record<string, string>> = {
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\f': '\\f',
  '\r': '\\r',
  '"': '\\"',
  '\\': '\\\\',
};
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function pythonString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const named = NAMED[s[i]];
    if (named !== undefined) out += named;
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

function pythonNumber(x: number): string {
  if (!Number.isFinite(x)) {
    // Python writes NaN/Infinity, which no JSON parser but Python's reads back.
    throw new JsonValueError('metadata numbers must be finite');
  }
  // -0 only comes from floats (Python has no negative int zero).
  return Number.isSafeInteger(x) && !Object.is(x, -0) ? String(x) : pythonFloatRepr(x);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `json.dumps(value)` as Python writes it. Throws JsonValueError for what JSON cannot hold. */
export function pythonJson(value: JsonValue): string {
  const open = new Set<object>(); // containers being written: a cycle would never end
  const write = (v: unknown): string => {
    switch (typeof v) {
      case 'string':
        return pythonString(v);
      case 'number':
        return pythonNumber(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'object': {
        if (v === null) return 'null';
        if (open.has(v)) throw new JsonValueError('metadata cannot contain itself');
        open.add(v);
        let out: string;
        if (Array.isArray(v)) {
          out = `[${v.map(write).join(', ')}]`;
        } else if (isPlainObject(v)) {
          const parts = Object.keys(v).map(
            (k) => `${pythonString(k)}: ${write((v as Record<string, unknown>)[k])}`,
          );
          out = `{${parts.join(', ')}}`;
        } else {
          throw new JsonValueError(
            'metadata may hold only plain objects, arrays, strings, numbers, booleans and null',
          );
        }
        open.delete(v);
        return out;
      }
      default:
        throw new JsonValueError(`metadata cannot hold a value of type ${typeof v}`);
    }
  };
  return write(value);
}

/** Parses a metadata field: JSON text that must be an object. Throws JsonValueError. */
export function parseMetadata(text: string): Metadata {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonValueError('metadata is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JsonValueError('metadata must be a JSON object');
  }
  return value as Metadata;
}
