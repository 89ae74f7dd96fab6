import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CapError } from '../../core/caps/errors.ts';
import { chkStorageIndex, formatCap, parseCap, parseChkCap, verifierOf } from '../../core/caps/immutable.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { utf8 } from '../../core/primitives/bytes.ts';
import { asAesKey, asStorageIndex } from '../../core/types.ts';

const READ = 'URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';
const VERIFY =
  'URI:CHK-Verifier:i5nhq74zw2crkop634ra4hrvzm:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';

function capError(text: string): CapError {
  try {
    parseCap(text);
  } catch (err) {
    if (err instanceof CapError) return err;
    throw err;
  }
  throw new Error('parsed a malformed cap');
}

describe('immutable caps', () => {
  it('parses and formats a CHK read cap exactly', () => {
    const cap = parseChkCap(READ);
    expect(cap.kind).toBe('chk');
    expect([cap.k, cap.n, cap.size]).toEqual([1, 1, 56]);
    expect(cap.key.length).toBe(16);
    expect(formatCap(cap)).toBe(READ);
  });

  it('derives the reference verify cap and round-trips it', () => {
    const v = verifierOf(parseChkCap(READ));
    expect(formatCap(v)).toBe(VERIFY);
    expect(formatCap(parseCap(VERIFY))).toBe(VERIFY);
  });

  it('storage index of the zero key matches the reference', () => {
    expect(base32Encode(chkStorageIndex(asAesKey(new Uint8Array(16))))).toBe('2k6avpjga3dho3zsjo6nnkt7n4');
  });

  it('LIT caps: empty, "hello", round trip', () => {
    expect(formatCap({ kind: 'lit', data: new Uint8Array(0) })).toBe('URI:LIT:');
    expect(formatCap({ kind: 'lit', data: utf8('hello') })).toBe('URI:LIT:nbswy3dp');
    const cap = parseCap('URI:LIT:nbswy3dp');
    expect(cap.kind === 'lit' && new TextDecoder().decode(cap.data)).toBe('hello');
    expect(formatCap(parseCap('URI:LIT:'))).toBe('URI:LIT:');
  });

  it('any well-formed CHK read or verify cap round-trips exactly (property)', () => {
    const chk = fc.record({
      kind: fc.constantFrom('chk' as const, 'chk-verifier' as const),
      first: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      uebHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      n: fc.integer({ min: 1, max: 256 }),
      kFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      size: fc.maxSafeNat(),
    });
    fc.assert(
      fc.property(chk, ({ kind, first, uebHash, n, kFrac, size }) => {
        const k = 1 + Math.floor(kFrac * (n - 1));
        const cap =
          kind === 'chk'
            ? { kind, key: asAesKey(first), uebHash, k, n, size }
            : { kind, storageIndex: asStorageIndex(first), uebHash, k, n, size };
        const text = formatCap(cap);
        expect(parseCap(text)).toEqual(cap);
        expect(formatCap(parseCap(text))).toBe(text);
      }),
    );
  });

  it('big k, N and size survive the round trip', () => {
    const text = READ.replace(':1:1:56', ':101:256:8388609');
    expect(formatCap(parseCap(text))).toBe(text);
  });

  it.each([
    ['URI:SSK:abc:def', 'prefix'],
    ['uri:chk:' + READ.slice(8), 'prefix'],
    [READ.replace(':1:1:56', ':1:1'), 'fields'],
    [`${READ}:7`, 'fields'],
    [READ.replace('yzxcoagbetwet65ltjpbqyli3m', 'yzxcoagbetwet65ltjpbqyli3'), 'key'],
    [READ.replace('yzxcoagbetwet65ltjpbqyli3m', 'yzxcoagbetwet65ltjpbqyli3n'), 'key'],
    [READ.replace('yzxcoagbetwet65ltjpbqyli3m', 'YZXCOAGBETWET65LTJPBQYLI3M'), 'key'],
    [READ.replace('6b7inuih', '6b7inu1h'), 'UEB hash'],
    [READ.replace('pgef7a', 'pgef7'), 'UEB hash'],
    [READ.replace(':1:1:56', ':0:1:56'), 'k'],
    [READ.replace(':1:1:56', ':3:2:56'), 'k'],
    [READ.replace(':1:1:56', ':1:257:56'), 'k'],
    [READ.replace(':1:1:56', ':01:1:56'), 'k'],
    [READ.replace(':1:1:56', ':1:x:56'), 'N'],
    [READ.replace(':1:1:56', ':1:1:-56'), 'size'],
    [READ.replace(':1:1:56', ':1:1:99999999999999999999'), 'size'],
    [VERIFY.replace('i5nhq74zw2crkop634ra4hrvzm', 'i5nhq74zw2crkop634ra4hrvz'), 'storage index'],
    ['URI:LIT:nbswy3d', 'data'],
  ])('rejects %s (field %s)', (text, field) => {
    const err = capError(text);
    expect(err.code).toBe('BAD_CAP');
    expect(err.field).toBe(field);
    // The message names the field but never repeats the cap's secret parts.
    expect(err.message).not.toContain('yzxcoagbetwet65ltjpbqyli3');
  });
});
