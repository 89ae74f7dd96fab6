/**
 * Directory caps (URI:DIR2…, §5.2) and caps as directories carry them (`ro.`/`imm.`). The
 * reference caps and their derivations come from Tahoe-LAFS's own uri.py
 * (test/vectors/tahoe-dirnodes.json `dircaps`, see test/vectors/README.md).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Capability,
  CapError,
  formatCapability,
  formatStorageIndex,
  isKnownCapKind,
  isMutableDirectory,
  isReadable,
  isWritable,
  parseAllegedCap,
  parseCapability,
  readOnlyOf,
  storageIndexOf,
  stripClaim,
  verifierOf,
} from '../../core/caps/index.ts';
import { capInfoOf } from '../../core/client/cap-info.ts';

interface DirCapCase {
  cap: string;
  ro: string;
  verify: string | null;
  si: string | null;
  readonly: boolean;
  mutable: boolean;
}
const { dircaps } = JSON.parse(
  readFileSync(new URL('../vectors/tahoe-dirnodes.json', import.meta.url), 'utf8'),
) as { dircaps: DirCapCase[] };

const [DIR, DIR_RO, MDMF_DIR, MDMF_DIR_RO, CHK_DIR, EMPTY_DIR, LIT_DIR] = dircaps.map((c) => c.cap);
const fileOf = (text: string) => {
  const cap = parseCapability(text);
  if (cap.kind !== 'dir') throw new Error('not a directory cap');
  return formatCapability(cap.file);
};

function capError(f: () => unknown): CapError {
  try {
    f();
  } catch (err) {
    if (err instanceof CapError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe("directory caps, against Tahoe's uri.py", () => {
  it('the fixture has every readable directory kind Tahoe makes', () => {
    expect(dircaps.map((c) => c.cap.split(':')[1])).toEqual([
      'DIR2',
      'DIR2-RO',
      'DIR2-MDMF',
      'DIR2-MDMF-RO',
      'DIR2-CHK',
      'DIR2-LIT',
      'DIR2-LIT',
    ]);
    expect(EMPTY_DIR).toBe('URI:DIR2-LIT:');
  });

  for (const c of dircaps) {
    it(`${c.cap.slice(0, 24)}…: round trip, read-only and verify forms, storage index`, () => {
      const cap = parseCapability(c.cap);
      expect(cap.kind).toBe('dir');
      expect(formatCapability(cap)).toBe(c.cap);
      expect(formatCapability(readOnlyOf(cap)!)).toBe(c.ro);
      const v = verifierOf(cap);
      expect(v && formatCapability(v)).toBe(c.verify);
      const si = storageIndexOf(cap);
      expect(si && formatStorageIndex(si)).toBe(c.si);
      expect(isWritable(cap)).toBe(!c.readonly);
      expect(isReadable(cap)).toBe(true);
      expect(cap.kind === 'dir' && isMutableDirectory(cap)).toBe(c.mutable);
      if (v) {
        // The verify cap parses, is its own verify cap, reads nothing, has the same storage index.
        const parsed = parseCapability(c.verify!);
        expect(formatCapability(parsed)).toBe(c.verify);
        expect(verifierOf(parsed)).toEqual(parsed);
        expect(isReadable(parsed)).toBe(false);
        expect(readOnlyOf(parsed)).toBeNull();
        expect(formatStorageIndex(storageIndexOf(parsed)!)).toBe(c.si);
      }
    });
  }

  it('a directory cap is its backing file cap with the type word swapped', () => {
    expect(fileOf(DIR)).toBe(DIR.replace('URI:DIR2:', 'URI:SSK:'));
    expect(fileOf(DIR_RO)).toBe(DIR_RO.replace('URI:DIR2-RO:', 'URI:SSK-RO:'));
    expect(fileOf(MDMF_DIR)).toBe(MDMF_DIR.replace('URI:DIR2-MDMF:', 'URI:MDMF:'));
    expect(fileOf(MDMF_DIR_RO)).toBe(MDMF_DIR_RO.replace('URI:DIR2-MDMF-RO:', 'URI:MDMF-RO:'));
    expect(fileOf(CHK_DIR)).toBe(CHK_DIR.replace('URI:DIR2-CHK:', 'URI:CHK:'));
    expect(fileOf(LIT_DIR)).toBe(LIT_DIR.replace('URI:DIR2-LIT:', 'URI:LIT:'));
    const v = formatCapability(verifierOf(parseCapability(DIR))!);
    expect(fileOf(v)).toBe(v.replace('URI:DIR2-Verifier:', 'URI:SSK-Verifier:'));
  });

  it('DIR2-MDMF caps take the hints MDMF caps take, and drop them', () => {
    for (const text of [MDMF_DIR, MDMF_DIR_RO]) {
      expect(formatCapability(parseCapability(`${text}:3:131073`))).toBe(text);
    }
    expect(capError(() => parseCapability(`${DIR}:3:131073`)).field).toBe('fields');
  });

  it('cap-info calls every directory cap a directory', () => {
    for (const c of dircaps) {
      const info = capInfoOf(parseCapability(c.cap));
      expect(info.kind).toBe('directory');
      expect(info.writable).toBe(!c.readonly);
      expect(info.size).toBeNull();
    }
  });

  it.each([
    ['URI:DIR2-LIT:x', 'data'],
    ['URI:DIR2-LIT:nbswy3d', 'data'],
    [`${DIR.slice(0, -1)}b`, 'fingerprint'],
    [DIR.replace('URI:DIR2:', 'URI:DIR2-CHK:'), 'fields'],
    [CHK_DIR.replace(':3:10:', ':11:10:'), 'k'],
    [DIR.replace('URI:DIR2:', 'URI:DIR2-SSK:'), 'prefix'],
    [DIR.replace('URI:DIR2:', 'URI:dir2:'), 'prefix'],
    ['URI:DIR2', 'prefix'],
  ])('rejects %j (field %s), never echoing a key', (text, field) => {
    const err = capError(() => parseCapability(text));
    expect(err.field).toBe(field);
    expect(err.message).not.toContain(DIR.split(':')[2]);
  });
});

describe('caps as directories carry them: ro. and imm.', () => {
  const SSK = DIR.replace('URI:DIR2:', 'URI:SSK:');
  const SSK_RO = DIR_RO.replace('URI:DIR2-RO:', 'URI:SSK-RO:');
  const CHK = CHK_DIR.replace('URI:DIR2-CHK:', 'URI:CHK:');
  const VERIFY = formatCapability(verifierOf(parseCapability(DIR))!);
  const ok = (text: string, context: 'read-only' | 'immutable' | null = null) =>
    formatCapability(parseAllegedCap(text, context).cap);

  it('strips the prefix and reports the claim', () => {
    expect(stripClaim(`ro.${CHK}`)).toEqual({ text: CHK, claim: 'read-only' });
    expect(stripClaim(`imm.${CHK}`)).toEqual({ text: CHK, claim: 'immutable' });
    expect(stripClaim(CHK)).toEqual({ text: CHK, claim: null });
    expect(stripClaim(`ro.imm.${CHK}`)).toEqual({ text: `imm.${CHK}`, claim: 'read-only' }); // one prefix only
    expect(parseAllegedCap(`imm.${CHK}`)).toMatchObject({ claim: 'immutable' });
    expect(parseAllegedCap(CHK, 'read-only')).toMatchObject({ claim: 'read-only' });
    expect(parseAllegedCap(`imm.${CHK}`, 'read-only')).toMatchObject({ claim: 'immutable' });
  });

  it.each([
    // [text, context, accepted]
    [`ro.${SSK_RO}`, null, true],
    [`ro.${DIR_RO}`, null, true],
    [`ro.${CHK}`, null, true],
    [`ro.${VERIFY}`, null, true],
    [`ro.${SSK}`, null, false],
    [`ro.${DIR}`, null, false],
    [`ro.${MDMF_DIR}`, null, false],
    [`imm.${CHK}`, null, true],
    [`imm.${CHK_DIR}`, null, true],
    [`imm.${EMPTY_DIR}`, null, true],
    [`imm.${VERIFY}`, null, true], // verify caps read nothing: Tahoe accepts them anywhere
    [`imm.${SSK_RO}`, null, false],
    [`imm.${DIR_RO}`, null, false],
    [`imm.${MDMF_DIR_RO}`, null, false],
    [`imm.${SSK}`, null, false],
    [SSK, null, true],
    [SSK, 'read-only', false],
    [SSK_RO, 'read-only', true],
    [SSK_RO, 'immutable', false],
    [`ro.${SSK_RO}`, 'immutable', false],
    [CHK, 'immutable', true],
  ] as const)('%s in context %s: accepted %s', (text, context, accepted) => {
    if (accepted) {
      expect(ok(text, context)).toBe(text.replace(/^(ro|imm)\./, ''));
    } else {
      const err = capError(() => parseAllegedCap(text, context));
      expect(err.field).toBe('claim');
      expect(err.message).not.toContain(text.split(':')[2]);
    }
  });

  it('a malformed cap under a prefix is a CapError of its field', () => {
    expect(capError(() => parseAllegedCap('ro.URI:CHK:zzz')).field).toBe('fields');
  });

  it('knows which texts claim a known kind (malformed or not) and which are a later release’s', () => {
    for (const text of [SSK, `ro.${CHK}`, `imm.${EMPTY_DIR}`, 'URI:CHK:zzz', 'URI:DIR2-MDMF-Verifier:']) {
      expect(isKnownCapKind(text)).toBe(true);
    }
    for (const text of ['x-tahoe-future:abc', 'URI:DIR3:abc', 'URI:CHK', 'ro.x:y', 'imm.', '', 'uri:CHK:a']) {
      expect(isKnownCapKind(text)).toBe(false);
    }
  });

  it('every known directory derivation keeps within the union', () => {
    const all: Capability[] = dircaps.map((c) => parseCapability(c.cap));
    for (const cap of all) {
      const ro = readOnlyOf(cap);
      if (ro) expect(ro.kind).toBe('dir');
      const v = verifierOf(cap);
      if (v) expect(v.kind).toBe('dir');
    }
  });
});
