/**
 * The field decoders every cap parser shares. Each failure is a CapError naming the field;
 * messages describe the fault, never the text (a cap field may be a key).
 */
import { Base32Error, base32Decode } from '../primitives/base32.ts';
import { CapError } from './errors.ts';

/**
 * Strict base32 (§1.5): lower case, no padding, zero trailing bits, so each value has one
 * spelling and format(parse(s)) === s. `length` is the byte count the field must encode.
 */
export function base32Field(text: string, name: string, length?: number): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = base32Decode(text);
  } catch (err) {
    if (err instanceof Base32Error)
      throw new CapError(name, `the ${name} field is not valid base32: ${err.message}`);
    throw err;
  }
  if (length !== undefined && bytes.length !== length) {
    throw new CapError(name, `the ${name} field must encode ${length} bytes, not ${bytes.length}`);
  }
  return bytes;
}

/** A decimal number without sign or leading zeros (one spelling per value), safe as a JS number. */
export function decimalField(text: string, name: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) {
    throw new CapError(name, `the ${name} field must be a decimal number without leading zeros`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new CapError(name, `the ${name} field is too large`);
  return n;
}
