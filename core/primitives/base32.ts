/**
 * Base32 as Tahoe-LAFS writes it: RFC 4648 alphabet in lower case, no `=` padding,
 * unused trailing bits zero (reference/tahoe-formats.md §1.5).
 */
import { CairnError } from '../errors.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Valid lengths of an encoding, mod 8 (1, 3 and 6 cannot come from whole bytes). */
const VALID_TAIL = new Set([0, 2, 4, 5, 7]);

export class Base32Error extends CairnError {
  constructor(message: string) {
    super('BAD_BASE32', message);
  }
}

export function base32Encode(data: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < data.length; i++) {
    buffer = ((buffer << 8) | data[i]) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Strict decoder: rejects characters outside the alphabet, impossible lengths and non-zero pad bits. */
export function base32Decode(text: string): Uint8Array {
  if (!VALID_TAIL.has(text.length % 8)) {
    throw new Base32Error(`base32 text of length ${text.length} cannot encode whole bytes`);
  }
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? VALUES[c] : -1;
    if (v < 0) throw new Base32Error(`base32 text has an invalid character at position ${i}`);
    buffer = ((buffer << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  if (bits > 0 && (buffer & ((1 << bits) - 1)) !== 0) {
    throw new Base32Error('base32 text has non-zero trailing bits');
  }
  return out;
}
