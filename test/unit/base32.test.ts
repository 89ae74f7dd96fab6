import { describe, expect, it } from 'vitest';
import { Base32Error, base32Decode, base32Encode } from '../../core/primitives/base32.ts';
import { utf8 } from '../../core/primitives/bytes.ts';
import { netstring } from '../../core/primitives/netstring.ts';

describe('base32 (Tahoe flavour)', () => {
  it('encodes the reference examples', () => {
    expect(base32Encode(utf8('hello'))).toBe('nbswy3dp');
    expect(base32Encode(new Uint8Array(0))).toBe('');
    expect(base32Encode(new Uint8Array(16)).length).toBe(26);
    expect(base32Encode(new Uint8Array(32)).length).toBe(52);
  });

  it('round-trips every length from 0 to 64 bytes', () => {
    for (let n = 0; n <= 64; n++) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (i * 37 + n * 11) & 0xff;
      const text = base32Encode(data);
      expect(text.length).toBe(Math.ceil((8 * n) / 5));
      expect(base32Decode(text)).toEqual(data);
    }
  });

  it('rejects upper case, bad characters, impossible lengths and dirty pad bits', () => {
    expect(() => base32Decode('NBSWY3DP')).toThrow(Base32Error);
    expect(() => base32Decode('nbswy3d1')).toThrow(/invalid character at position 7/);
    expect(() => base32Decode('abc')).toThrow(/length 3/);
    // 'ab' encodes 1 byte and uses 2 of the second character's 5 bits; 'b' sets a pad bit.
    expect(() => base32Decode('ab')).toThrow(/trailing bits/);
    expect(base32Decode('aa')).toEqual(new Uint8Array([0]));
  });

  it('netstring wraps with the byte length', () => {
    expect(new TextDecoder().decode(netstring(utf8('abc')))).toBe('3:abc,');
    expect(new TextDecoder().decode(netstring(new Uint8Array(0)))).toBe('0:,');
  });
});
