/**
 * core/caps/index.ts: one parser and formatter for every cap kind, the derivations between
 * them, and strict rejection of anything that is not a canonical (or, for MDMF, hinted) cap.
 * Directory caps (each file cap wrapped as `{ kind: 'dir', file }`) are in the properties
 * here; their own cases are in caps-dir.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Capability,
  CapError,
  type ChkCap,
  type FileCap,
  formatCapability,
  isReadable,
  isWritable,
  type MutableFormat,
  parseCapability,
  readOnlyOf,
  storageIndexOf,
  verifierOf,
} from '../../core/caps/index.ts';
import { chkStorageIndex, verifierOf as chkVerifierOf } from '../../core/caps/immutable.ts';
import {
  asFingerprint,
  asReadKey,
  asWriteKey,
  mutableStorageIndex,
  readKeyOf,
} from '../../core/mutable/keys.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { asAesKey, asStorageIndex } from '../../core/types.ts';

// tahoe-formats §2.9 and §4.3 worked examples; the MDMF cap is the first MDMF vector.
const WK = 'fs6ul2fju2fvb2cfx7gt6ngycm';
const FP = 'hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq';
const SSK = `URI:SSK:${WK}:${FP}`;
const SSK_RO = `URI:SSK-RO:65ruo2zytr3uxnaxkptdoqkth4:${FP}`;
const SSK_V = `URI:SSK-Verifier:axxzm642zi4vozwfjdijoafbrm:${FP}`;
const MDMF = 'URI:MDMF:tn2ekpkmearz7k3bivm3ikuz3i:wcqgst36kymoirczlkok5pqdekt5lgsyfw3oh7ecoro3rj5aiyya';
const CHK = 'URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';
const CHK_V =
  'URI:CHK-Verifier:i5nhq74zw2crkop634ra4hrvzm:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';
const LIT = 'URI:LIT:nbswy3dp';

const mdmfRo = formatCapability(readOnlyOf(parseCapability(MDMF))!);
const mdmfV = formatCapability(verifierOf(parseCapability(MDMF))!);

function capError(text: string): CapError {
  try {
    parseCapability(text);
  } catch (err) {
    if (err instanceof CapError) return err;
    throw err;
  }
  throw new Error('parsed a malformed cap');
}

// ---- arbitraries: every kind, from random bytes --------------------------------------------

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const format = fc.constantFrom<MutableFormat>('sdmf', 'mdmf');
const arbFileCap: fc.Arbitrary<FileCap> = fc.oneof(
  fc.uint8Array({ maxLength: 55 }).map((data): FileCap => ({ kind: 'lit', data })),
  fc
    .record({
      key: bytes(16),
      uebHash: bytes(32),
      n: fc.integer({ min: 1, max: 256 }),
      size: fc.maxSafeNat(),
    })
    .chain(({ key, uebHash, n, size }) =>
      fc
        .integer({ min: 1, max: n })
        .map((k): FileCap => ({ kind: 'chk', key: asAesKey(key), uebHash, k, n, size })),
    ),
  fc
    .record({ key: bytes(16), uebHash: bytes(32), size: fc.maxSafeNat() })
    .map(
      ({ key, uebHash, size }): FileCap =>
        chkVerifierOf({ kind: 'chk', key: asAesKey(key), uebHash, k: 3, n: 10, size }),
    ),
  fc.record({ format, key: bytes(16), fp: bytes(32) }).map(
    ({ format, key, fp }): FileCap => ({
      kind: 'ssk-write',
      format,
      writeKey: asWriteKey(key),
      fingerprint: asFingerprint(fp),
    }),
  ),
  fc.record({ format, key: bytes(16), fp: bytes(32) }).map(
    ({ format, key, fp }): FileCap => ({
      kind: 'ssk-read',
      format,
      readKey: asReadKey(key),
      fingerprint: asFingerprint(fp),
    }),
  ),
  fc.record({ format, si: bytes(16), fp: bytes(32) }).map(
    ({ format, si, fp }): FileCap => ({
      kind: 'ssk-verifier',
      format,
      storageIndex: asStorageIndex(si),
      fingerprint: asFingerprint(fp),
    }),
  ),
);
/** Every kind, directories too: any file cap can back a directory. */
const arbCap: fc.Arbitrary<Capability> = fc.oneof(
  arbFileCap,
  arbFileCap.map((file): Capability => ({ kind: 'dir', file })),
);
const isLit = (cap: Capability) => (cap.kind === 'dir' ? cap.file : cap).kind === 'lit';

const hex = (b: Uint8Array | null) => (b === null ? null : toHex(b));

describe('parseCapability / formatCapability', () => {
  it.each([
    [LIT, 'lit'],
    [CHK, 'chk'],
    [CHK_V, 'chk-verifier'],
    [SSK, 'ssk-write'],
    [SSK_RO, 'ssk-read'],
    [SSK_V, 'ssk-verifier'],
    [MDMF, 'ssk-write'],
    [mdmfRo, 'ssk-read'],
    [mdmfV, 'ssk-verifier'],
    ['URI:LIT:', 'lit'],
  ])('%s is a %s cap and formats back exactly', (text, kind) => {
    const cap = parseCapability(text);
    expect(cap.kind).toBe(kind);
    expect(formatCapability(cap)).toBe(text);
  });

  it('mutable caps keep their format through every derivation', () => {
    expect(mdmfRo.startsWith('URI:MDMF-RO:')).toBe(true);
    expect(mdmfV.startsWith('URI:MDMF-Verifier:')).toBe(true);
    for (const text of [SSK, SSK_RO, SSK_V]) expect(parseCapability(text)).toMatchObject({ format: 'sdmf' });
    for (const text of [MDMF, mdmfRo, mdmfV]) expect(parseCapability(text)).toMatchObject({ format: 'mdmf' });
  });

  it('every cap of every kind round-trips exactly (property)', () => {
    fc.assert(
      fc.property(arbCap, (cap) => {
        const text = formatCapability(cap);
        expect(parseCapability(text)).toEqual(cap);
        expect(formatCapability(parseCapability(text))).toBe(text);
      }),
    );
  });
});

describe('derivations', () => {
  it('SDMF write → read → verify gives the reference caps', () => {
    const write = parseCapability(SSK);
    const read = readOnlyOf(write)!;
    expect(formatCapability(read)).toBe(SSK_RO);
    expect(formatCapability(verifierOf(write)!)).toBe(SSK_V);
    expect(formatCapability(verifierOf(read)!)).toBe(SSK_V);
  });

  it('CHK: the read cap is its own read-only form; its verify cap is the reference one', () => {
    const chk = parseCapability(CHK) as ChkCap;
    expect(readOnlyOf(chk)).toBe(chk);
    expect(formatCapability(verifierOf(chk))).toBe(CHK_V);
    expect(hex(storageIndexOf(chk))).toBe(toHex(chkStorageIndex(chk.key)));
  });

  it('LIT has no verify cap and no storage index; verify caps have no read-only form', () => {
    const lit = parseCapability(LIT);
    expect(readOnlyOf(lit)).toBe(lit);
    expect(verifierOf(lit)).toBeNull();
    expect(storageIndexOf(lit)).toBeNull();
    for (const text of [CHK_V, SSK_V, mdmfV]) {
      const v = parseCapability(text);
      expect(readOnlyOf(v)).toBeNull();
      expect(verifierOf(v)).toBe(v);
    }
  });

  it.each([
    [LIT, false, true],
    [CHK, false, true],
    [CHK_V, false, false],
    [SSK, true, true],
    [SSK_RO, false, true],
    [SSK_V, false, false],
    [MDMF, true, true],
    [mdmfRo, false, true],
    [mdmfV, false, false],
  ])('%s: writable %s, readable %s', (text, writable, readable) => {
    const cap = parseCapability(text);
    expect(isWritable(cap)).toBe(writable);
    expect(isReadable(cap)).toBe(readable);
  });

  it('the chain is consistent for every cap (property)', () => {
    fc.assert(
      fc.property(arbCap, (cap) => {
        const si = hex(storageIndexOf(cap));
        const ro = readOnlyOf(cap);
        const v = verifierOf(cap);
        expect(ro === null).toBe(!isReadable(cap));
        if (ro) {
          expect(isWritable(ro)).toBe(false);
          expect(readOnlyOf(ro)).toEqual(ro); // idempotent
          expect(hex(storageIndexOf(ro))).toBe(si);
          expect(verifierOf(ro)).toEqual(v);
        }
        expect(v === null).toBe(isLit(cap));
        if (v) {
          expect(isReadable(v)).toBe(false);
          expect(verifierOf(v)).toBe(v);
          expect(hex(storageIndexOf(v))).toBe(si);
          expect(formatCapability(parseCapability(formatCapability(v)))).toBe(formatCapability(v));
        }
        if (cap.kind === 'ssk-write') {
          expect(si).toBe(toHex(mutableStorageIndex(readKeyOf(cap.writeKey))));
        }
      }),
    );
  });
});

describe('rejection', () => {
  const wk = WK;
  const roKey = '65ruo2zytr3uxnaxkptdoqkth4';
  it.each([
    ['', 'prefix'],
    ['hello', 'prefix'],
    ['URI:', 'prefix'],
    ['URI:SSK', 'prefix'],
    [SSK.replace('URI:', 'uri:'), 'prefix'],
    [SSK.replace('URI:SSK:', 'URI:ssk:'), 'prefix'],
    [SSK.replace('URI:SSK:', 'URI:SSK-RW:'), 'prefix'], // the stale name in mutable.rst
    [SSK_V.replace('URI:SSK-Verifier:', 'URI:SSK-Verify:'), 'prefix'],
    [SSK.replace('URI:SSK:', 'URI:DIR2-SSK:'), 'prefix'],
    [SSK.replace('URI:SSK:', 'URI:DIR2:').replace(`:${FP}`, ''), 'fields'],
    [` ${SSK}`, 'prefix'],
    // fields
    [`URI:SSK:${wk}`, 'fields'],
    [`${SSK}:`, 'fields'],
    [`${SSK}:3:131073`, 'fields'],
    [`${SSK_RO}:x`, 'fields'],
    [`${SSK_V}:`, 'fields'],
    [`URI:MDMF:${wk}`, 'fields'],
    [`${SSK}\n`, 'fingerprint'],
    [`${MDMF}x`, 'fingerprint'],
    // bad base32
    [SSK.replace(wk, wk.toUpperCase()), 'write key'],
    [SSK.replace(wk, wk.replace('f', '1')), 'write key'],
    [SSK.replace(wk, wk.replace('f', '=')), 'write key'],
    [SSK_RO.replace(roKey, roKey.replace('6', '8')), 'read key'],
    [SSK.replace(FP, FP.replace('h', 'H')), 'fingerprint'],
    // wrong lengths
    [SSK.replace(wk, wk.slice(0, 25)), 'write key'],
    [SSK.replace(wk, `${wk}a`), 'write key'],
    [SSK.replace(wk, `${wk}aa`), 'write key'],
    [SSK.replace(wk, ''), 'write key'],
    [SSK.replace(FP, FP.slice(0, 51)), 'fingerprint'],
    [SSK.replace(FP, `${FP}a`), 'fingerprint'],
    [SSK.replace(FP, wk), 'fingerprint'],
    [SSK_V.replace('axxzm642zi4vozwfjdijoafbrm', FP), 'storage index'],
    // non-canonical last characters (non-zero trailing bits)
    [SSK.replace(wk, wk.slice(0, 25) + 'n'), 'write key'],
    [SSK.replace(FP, FP.slice(0, 51) + 'r'), 'fingerprint'],
    [MDMF.replace(/a$/, 'b'), 'fingerprint'],
    [SSK_V.replace('axxzm642zi4vozwfjdijoafbrm', 'axxzm642zi4vozwfjdijoafbrn'), 'storage index'],
    // immutable kinds still checked by immutable.ts
    [CHK.replace(':1:1:56', ':2:1:56'), 'k'],
    ['URI:LIT:nbswy3d', 'data'],
  ])('rejects %j (field %s)', (text, field) => {
    const err = capError(text);
    expect(err.code).toBe('BAD_CAP');
    expect(err.field).toBe(field);
    // Messages name the field and never repeat a key.
    for (const secret of [wk, roKey, FP.slice(0, 20), wk.toUpperCase()])
      expect(err.message).not.toContain(secret);
  });

  it('a mangled cap whose type word is a key does not echo it', () => {
    const err = capError(`URI:${wk}:${FP}`);
    expect(err.field).toBe('prefix');
    expect(err.message).not.toContain(wk);
  });

  it('an unknown type word is refused without echoing it', () => {
    const err = capError(`URI:DIR3:${wk}:${FP}`);
    expect(err.field).toBe('prefix');
    expect(err.message).toMatch(/URI:DIR2-MDMF-RO:/); // the list of known kinds names the directories
  });

  it('a 128-bit field has exactly 8 valid last characters', () => {
    // The last character of a 128-bit field carries 3 bits: 8 spellings are valid, no more.
    const ok = [...'abcdefghijklmnopqrstuvwxyz234567'].filter((c) => {
      try {
        parseCapability(SSK.replace(wk, wk.slice(0, 25) + c));
        return true;
      } catch {
        return false;
      }
    });
    expect(ok.join('')).toBe('aeimquy4');
  });

  it('parser errors are only ever CapErrors, and anything accepted is canonical (fuzz)', () => {
    const files = [LIT, CHK, CHK_V, SSK, SSK_RO, SSK_V, MDMF, mdmfRo, mdmfV];
    const dirs = files.map((f) => formatCapability({ kind: 'dir', file: parseCapability(f) as FileCap }));
    const caps = [...files, ...dirs];
    const unit = fc.constantFrom(...'abqz27:-AURI\n'.split(''));
    const mutated = fc.constantFrom(...caps).chain((base) =>
      fc
        .record({
          at: fc.integer({ min: 0, max: base.length }),
          cut: fc.nat({ max: 3 }),
          insert: fc.string({ maxLength: 3, unit }),
        })
        .map(({ at, cut, insert }) => base.slice(0, at) + insert + base.slice(at + cut)),
    );
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string()), (text) => {
        let cap: Capability;
        try {
          cap = parseCapability(text);
        } catch (err) {
          expect(err).toBeInstanceOf(CapError);
          return;
        }
        const canonical = formatCapability(cap);
        if (text.startsWith('URI:MDMF') || text.startsWith('URI:DIR2-MDMF')) {
          // Hints after the fingerprint are allowed and dropped.
          expect(text === canonical || text.startsWith(`${canonical}:`)).toBe(true);
        } else {
          expect(text).toBe(canonical);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('MDMF hints', () => {
  it.each([':', ':3:131073', ':anything at all: even spaces', '::'])(
    'MDMF caps accept and drop %j after the fingerprint; SDMF caps do not',
    (hint) => {
      for (const text of [MDMF, mdmfRo, mdmfV]) {
        expect(formatCapability(parseCapability(text + hint))).toBe(text);
      }
      for (const text of [SSK, SSK_RO, SSK_V]) expect(capError(text + hint).field).toBe('fields');
    },
  );

  it('a hinted MDMF cap derives the same read and verify caps', () => {
    const hinted = parseCapability(`${MDMF}:3:131073`);
    expect(formatCapability(readOnlyOf(hinted)!)).toBe(mdmfRo);
    expect(formatCapability(verifierOf(hinted)!)).toBe(mdmfV);
    expect(base32Encode(storageIndexOf(hinted)!)).toBe(base32Encode(storageIndexOf(parseCapability(MDMF))!));
  });
});
