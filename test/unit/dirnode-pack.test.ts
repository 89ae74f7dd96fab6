/**
 * core/dirnode: packing and unpacking directory contents (round trips, name order, NFC, size),
 * refusing malformed bytes and impossible children with typed errors that name the entry and
 * field but never a cap, keeping entries as read, update_metadata, and the transitively
 * read-only view. Byte-exactness against Tahoe is in dirnode-tahoe.test.ts.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Capability, formatCapability, isWritable, readOnlyOf } from '../../core/caps/index.ts';
import { asFingerprint, asReadKey, asWriteKey, readKeyOf, type WriteKey } from '../../core/mutable/keys.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { concatBytes, fromHex, toHex, utf8 } from '../../core/primitives/bytes.ts';
import { netstring, readNetstring } from '../../core/primitives/netstring.ts';
import { TAG_DIRNODE_CHILD_CAPKEY } from '../../core/primitives/tags.ts';
import { taggedPairHash } from '../../core/primitives/tagged-hash.ts';
import { asAesKey } from '../../core/types.ts';
import {
  compareNames,
  type DirChild,
  DirectoryChildError,
  DirectoryFormatError,
  decryptRwCap,
  directoryKeysOf,
  encryptRwCap,
  type Metadata,
  packDirectory,
  pythonJson,
  readOnlyChildren,
  tahoeHmac,
  unpackDirectory,
  updateMetadata,
} from '../../core/dirnode/index.ts';
import { pattern } from '../harness/bytes.ts';

// ---- caps from bytes -------------------------------------------------------------------------

const WK = asWriteKey(pattern(16, 1));
const OTHER_WK = asWriteKey(pattern(16, 2));
const writer = { mutable: true, writeKey: WK };
const reader = { mutable: true, writeKey: null };
const frozen = { mutable: false, writeKey: null };

const ssk = (seed: number, format: 'sdmf' | 'mdmf' = 'sdmf') =>
  ({
    kind: 'ssk-write',
    format,
    writeKey: asWriteKey(pattern(16, seed)),
    fingerprint: asFingerprint(pattern(32, seed + 1000)),
  }) as const;
const chk = (seed: number) =>
  ({
    kind: 'chk',
    key: asAesKey(pattern(16, seed)),
    uebHash: pattern(32, seed + 1),
    k: 3,
    n: 10,
    size: 1000 + seed,
  }) as const;
const lit = (text: string) => ({ kind: 'lit', data: utf8(text) }) as const;
const dir = (file: Capability): Capability => ({ kind: 'dir', file }) as Capability;
const text = (cap: Capability) => formatCapability(cap);
const roText = (cap: Capability) => formatCapability(readOnlyOf(cap)!);

/** A child whose caps are those of `cap`: a write cap (with its read cap) or a read cap alone. */
function child(name: string, cap: Capability, metadata: Metadata = {}): DirChild {
  return isWritable(cap)
    ? { name, writeCap: text(cap), readCap: roText(cap), metadata }
    : { name, writeCap: null, readCap: text(cap), metadata };
}

const entry = (name: Uint8Array, ro: string, rwcapdata: Uint8Array, md: string) =>
  netstring(concatBytes(netstring(name), netstring(utf8(ro)), netstring(rwcapdata), netstring(utf8(md))));

const LIT = text(lit('hello'));
const WRITE_SSK = text(ssk(10));

/** Runs f and returns the error it must throw. */
function thrown<E>(f: () => unknown, type: new (...a: never[]) => E): E {
  try {
    f();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error('did not throw');
}

const codePoints = (s: string) => [...s].map((c) => c.codePointAt(0)!);
const byCodePoints = (a: string, b: string) => {
  const x = codePoints(a);
  const y = codePoints(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
};

// ---- arbitraries -------------------------------------------------------------------------------

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const arbMutableCap = fc
  .record({
    kind: fc.constantFrom('ssk-write' as const, 'ssk-read' as const),
    format: fc.constantFrom('sdmf' as const, 'mdmf' as const),
    key: bytes(16),
    fp: bytes(32),
    asDir: fc.boolean(),
  })
  .map(({ kind, format, key, fp, asDir }): Capability => {
    const file =
      kind === 'ssk-write'
        ? { kind, format, writeKey: asWriteKey(key), fingerprint: asFingerprint(fp) }
        : { kind, format, readKey: asReadKey(key), fingerprint: asFingerprint(fp) };
    return asDir ? { kind: 'dir', file } : file;
  });
const arbImmutableCap = fc
  .record({
    key: bytes(16),
    ueb: bytes(32),
    data: fc.uint8Array({ maxLength: 55 }),
    lit: fc.boolean(),
    asDir: fc.boolean(),
  })
  .map(({ key, ueb, data, lit, asDir }): Capability => {
    const file = lit
      ? ({ kind: 'lit', data } as const)
      : ({ kind: 'chk', key: asAesKey(key), uebHash: ueb, k: 2, n: 5, size: 12345 } as const);
    return asDir ? { kind: 'dir', file } : file;
  });
// Metadata as a Tahoe client would keep it (integer-like keys aside: JS puts them first, see json.ts).
const arbMetadata = fc.dictionary(
  fc.string().filter((k) => !/^(0|[1-9][0-9]*)$/.test(k)),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 },
) as fc.Arbitrary<Metadata>;
const arbName = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ maxLength: 8 }),
);
const arbChildren = (caps: fc.Arbitrary<Capability>) =>
  fc.uniqueArray(fc.record({ name: arbName, cap: caps, metadata: arbMetadata }), {
    maxLength: 12,
    selector: (c) => c.name.normalize('NFC'),
  });

function expectSameChildren(got: Iterable<DirChild>, given: DirChild[]) {
  const want = given
    .map((c) => ({
      name: c.name.normalize('NFC'),
      writeCap: c.writeCap,
      readCap: c.readCap,
      json: pythonJson(c.metadata),
    }))
    .sort((a, b) => byCodePoints(a.name, b.name));
  expect(
    [...got].map((c) => ({
      name: c.name,
      writeCap: c.writeCap,
      readCap: c.readCap,
      json: pythonJson(c.metadata),
    })),
  ).toEqual(want);
}

// ---- round trips ---------------------------------------------------------------------------

describe('round trips', () => {
  it('the empty directory is the empty string, both kinds', () => {
    expect(packDirectory([], WK)).toEqual(new Uint8Array(0));
    expect(packDirectory([], null)).toEqual(new Uint8Array(0));
    expect(unpackDirectory(new Uint8Array(0), writer).children.size).toBe(0);
  });

  it('mutable directories: any children come back, sorted, for the writer; read caps only for a reader (property)', () => {
    fc.assert(
      fc.property(arbChildren(fc.oneof(arbMutableCap, arbImmutableCap)), (list) => {
        const given = list.map((c) => child(c.name, c.cap, c.metadata));
        const packed = packDirectory(given, WK);
        const asWriter = unpackDirectory(packed, writer);
        expect(asWriter.skipped).toEqual([]);
        expectSameChildren(asWriter.children.values(), given);
        expectSameChildren(unpackDirectory(packed, reader).children.values(), readOnlyChildren(given));
        // Packing what was read gives the same bytes, from the kept entries or from scratch.
        expect(toHex(packDirectory(asWriter.children.values(), WK))).toBe(toHex(packed));
        const fresh = [...asWriter.children.values()].map(({ entry: _, ...c }) => c);
        expect(toHex(packDirectory(fresh, WK))).toBe(toHex(packed));
        // The input order does not matter.
        expect(toHex(packDirectory([...given].reverse(), WK))).toBe(toHex(packed));
      }),
      { numRuns: 150 },
    );
  });

  it('immutable directories: immutable children come back, with empty rwcapdata (property)', () => {
    fc.assert(
      fc.property(arbChildren(arbImmutableCap), (list) => {
        const given = list.map((c) => child(c.name, c.cap, c.metadata));
        const packed = packDirectory(given, null);
        const { children, skipped } = unpackDirectory(packed, frozen);
        expect(skipped).toEqual([]);
        expectSameChildren(children.values(), given);
        for (const c of children.values()) expect(c.entry).toBeUndefined();
        expect(toHex(packDirectory(children.values(), null))).toBe(toHex(packed));
      }),
      { numRuns: 150 },
    );
  });

  it('a write cap is stored as 16 salt + cap + 32 MAC; a child without one still gets 48 bytes', () => {
    const packed = packDirectory([child('w', ssk(3)), child('r', chk(4))], WK);
    const rwcapdata = [...unpackDirectory(packed, writer).children.values()].map((c) => {
      let at = 0;
      const fields: Uint8Array[] = [];
      while (at < c.entry!.length) {
        const { value, next } = readNetstring(c.entry!, at);
        fields.push(value);
        at = next;
      }
      return fields[2];
    });
    expect(rwcapdata.map((r) => r.length)).toEqual([48, 48 + text(ssk(3)).length]);
    for (const r of rwcapdata) {
      // The MAC: Tahoe's construction over salt || ciphertext, keyed with the child's cap key.
      const key = taggedPairHash(TAG_DIRNODE_CHILD_CAPKEY, r.subarray(0, 16), WK, 16);
      expect(toHex(r.subarray(-32))).toBe(toHex(tahoeHmac(key, r.subarray(0, -32))));
    }
  });

  it('the rwcap salt is a hash of the cap: the same children pack to the same bytes', () => {
    const kids = [child('a', ssk(5)), child('b', ssk(6, 'mdmf'))];
    expect(toHex(packDirectory(kids, WK))).toBe(toHex(packDirectory(kids, WK)));
    expect(toHex(packDirectory(kids, WK))).not.toBe(toHex(packDirectory(kids, OTHER_WK)));
  });

  it('directoryKeysOf gives what unpacking needs from the directory cap', () => {
    expect(directoryKeysOf({ kind: 'dir', file: ssk(7) })).toEqual({
      mutable: true,
      writeKey: ssk(7).writeKey,
    });
    const ro = readOnlyOf(dir(ssk(7)))!;
    expect(ro.kind === 'dir' && directoryKeysOf(ro)).toEqual({ mutable: true, writeKey: null });
    expect(directoryKeysOf({ kind: 'dir', file: chk(1) })).toEqual({ mutable: false, writeKey: null });
  });
});

// ---- names -------------------------------------------------------------------------------------

describe('names', () => {
  it('sort in code-point order, not UTF-16 order', () => {
    const names = ['\uff21 fullwidth', '\u{1F600} emoji', '\ue000 private', 'z', '\u{10000} linear b'];
    const packed = packDirectory(
      names.map((n) => child(n, lit(n))),
      WK,
    );
    const order = [...unpackDirectory(packed, writer).children.keys()];
    expect(order).toEqual([
      'z',
      '\ue000 private',
      '\uff21 fullwidth',
      '\u{10000} linear b',
      '\u{1F600} emoji',
    ]);
    // JS's default sort would put the characters beyond the BMP (surrogate pairs) first.
    expect([...names].sort()).not.toEqual(order);
  });

  it('compareNames agrees with comparing code points (property)', () => {
    const s = fc.string({ unit: 'grapheme', maxLength: 6 });
    fc.assert(
      fc.property(s, s, (a, b) => {
        expect(Math.sign(compareNames(a, b))).toBe(Math.sign(byCodePoints(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  it('are NFC-normalised when packed and when read', () => {
    const nfd = 'Cafe\u0301';
    const packed = packDirectory([child(nfd, lit('x'))], WK);
    expect(new TextDecoder().decode(packed)).toContain('Caf\u00e9');
    expect(new TextDecoder().decode(packed)).not.toContain(nfd);
    // Bytes from an older writer with an NFD name read back as NFC.
    const old = entry(utf8(nfd), LIT, new Uint8Array(0), '{}');
    expect([...unpackDirectory(old, frozen).children.keys()]).toEqual(['Caf\u00e9']);
  });

  it('two children whose names normalise alike are refused when packing (Tahoe would keep one silently)', () => {
    const err = thrown(
      () => packDirectory([child('\u00e9', lit('a')), child('e\u0301', lit('b'))], WK),
      DirectoryChildError,
    );
    expect(err.code).toBe('BAD_CHILD');
    expect(err.field).toBe('name');
    expect(err.entry).toBe(1);
  });

  it('a lone surrogate cannot be a name (it has no UTF-8)', () => {
    expect(thrown(() => packDirectory([child('a\ud800', lit('a'))], WK), DirectoryChildError).field).toBe(
      'name',
    );
  });

  it('duplicate names when reading: the later entry replaces the earlier, in its place', () => {
    const data = concatBytes(
      entry(utf8('a'), LIT, new Uint8Array(0), '{"n": 1}'),
      entry(utf8('b'), LIT, new Uint8Array(0), '{}'),
      entry(utf8('a'), text(lit('x')), new Uint8Array(0), '{"n": 2}'),
    );
    const { children } = unpackDirectory(data, frozen);
    expect([...children.keys()]).toEqual(['a', 'b']);
    expect(children.get('a')).toMatchObject({ readCap: text(lit('x')), metadata: { n: 2 } });
  });
});

describe('size', () => {
  it('1,000 and 4,000 children pack and unpack (time grows linearly; printed, not asserted)', () => {
    const make = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        child(
          `file ${String(i).padStart(5, '0')} ✓`,
          i % 3 === 0 ? ssk(i) : chk(i),
          updateMetadata(null, 1.7e9 + i / 7),
        ),
      );
    const times: number[] = [];
    for (const n of [1000, 4000]) {
      const kids = make(n);
      const t0 = performance.now();
      const packed = packDirectory(kids, WK);
      const { children } = unpackDirectory(packed, writer);
      const again = packDirectory(children.values(), WK);
      times.push(performance.now() - t0);
      expect(children.size).toBe(n);
      expect(again.length).toBe(packed.length);
    }
    console.log(
      `pack+unpack+repack: 1,000 children ${times[0].toFixed(0)} ms, 4,000 children ${times[1].toFixed(0)} ms`,
    );
  });
});

// ---- malformed bytes -----------------------------------------------------------------------

describe('malformed contents are refused with the entry and field named', () => {
  const good = entry(utf8('a'), LIT, new Uint8Array(0), '{}');
  const goodMutable = packDirectory([child('a', ssk(9)), child('b', chk(9))], WK);
  const rw48 = encryptRwCap(WK, new Uint8Array(0));

  it.each<[string, Uint8Array, { mutable: boolean; writeKey: WriteKey | null }, number, string]>([
    ['not a netstring', utf8('hello'), frozen, 0, 'entry'],
    ['length without colon', utf8('12'), frozen, 0, 'entry'],
    ['leading zero', utf8('01:a,'), frozen, 0, 'entry'],
    ['missing comma', concatBytes(good.subarray(0, -1), utf8(';')), frozen, 0, 'entry'],
    ['huge length', utf8('999999999999999:x,'), frozen, 0, 'entry'],
    ['too many digits', utf8('9999999999999999:x,'), frozen, 0, 'entry'],
    ['second entry bad', concatBytes(good, utf8('2:ab,')), frozen, 1, 'name'],
    ['second entry runs past the end', concatBytes(good, utf8('3:ab,')), frozen, 1, 'entry'],
    [
      'three fields',
      netstring(concatBytes(netstring(utf8('a')), netstring(utf8(LIT)), netstring(new Uint8Array(0)))),
      frozen,
      0,
      'metadata',
    ],
    [
      'bytes after the fourth field',
      netstring(concatBytes(good.subarray(3, -1), utf8('x'))),
      frozen,
      0,
      'entry',
    ],
    ['name not UTF-8', entry(Uint8Array.of(0xff), LIT, new Uint8Array(0), '{}'), frozen, 0, 'name'],
    [
      'name with an encoded surrogate',
      entry(Uint8Array.of(0xed, 0xa0, 0x80), LIT, new Uint8Array(0), '{}'),
      frozen,
      0,
      'name',
    ],
    ['metadata not JSON', entry(utf8('a'), LIT, new Uint8Array(0), '{nope}'), frozen, 0, 'metadata'],
    ['metadata not an object', entry(utf8('a'), LIT, new Uint8Array(0), '[1]'), frozen, 0, 'metadata'],
    [
      'metadata NaN (Python reads it; JSON does not)',
      entry(utf8('a'), LIT, new Uint8Array(0), '{"x": NaN}'),
      frozen,
      0,
      'metadata',
    ],
    ['rwcapdata in an immutable directory', entry(utf8('a'), LIT, rw48, '{}'), frozen, 0, 'rwcapdata'],
    [
      'rwcapdata shorter than 48 bytes',
      entry(utf8('a'), LIT, rw48.subarray(0, 47), '{}'),
      reader,
      0,
      'rwcapdata',
    ],
    [
      'no rwcapdata in a mutable directory',
      entry(utf8('a'), LIT, new Uint8Array(0), '{}'),
      writer,
      0,
      'rwcapdata',
    ],
  ])('%s', (_, data, keys, index, field) => {
    const err = thrown(() => unpackDirectory(data, keys), DirectoryFormatError);
    expect(err.code).toBe('BAD_DIRECTORY');
    expect([err.entry, err.field]).toEqual([index, field]);
    expect(err.message).toContain(`entry ${index}`);
    expect(err.message).not.toContain('URI:');
  });

  it('every truncation is either a shorter directory (at an entry boundary) or an error', () => {
    const boundaries = new Set<number>([0]);
    let at = 0;
    for (const c of unpackDirectory(goodMutable, writer).children.values()) {
      at += netstring(c.entry!).length;
      boundaries.add(at);
    }
    for (let n = 0; n < goodMutable.length; n++) {
      const cut = goodMutable.subarray(0, n);
      if (boundaries.has(n)) expect(unpackDirectory(cut, writer).skipped).toEqual([]);
      else expect(() => unpackDirectory(cut, writer)).toThrow(DirectoryFormatError);
    }
  });

  it('random damage gives a directory or a DirectoryFormatError, never another error or a cap in a message (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: goodMutable.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (at, value, cut, asWriter) => {
          const data = concatBytes(
            goodMutable.subarray(0, at),
            Uint8Array.of(value),
            goodMutable.subarray(at + cut),
          );
          try {
            unpackDirectory(data, asWriter ? writer : reader);
          } catch (err) {
            expect(err).toBeInstanceOf(DirectoryFormatError);
            expect((err as Error).message).not.toContain('URI:');
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the MAC is not checked on reading (as Tahoe >= 1.3): the signature covers the contents', () => {
    const rwcapdata = encryptRwCap(WK, utf8(WRITE_SSK));
    expect(decryptRwCap(WK, rwcapdata)).toEqual(utf8(WRITE_SSK));
    const damaged = rwcapdata.slice();
    damaged[damaged.length - 1] ^= 1;
    const list = (rw: Uint8Array) =>
      [...unpackDirectory(entry(utf8('x'), roText(ssk(10)), rw, '{}'), writer).children.values()].map(
        (c) => c.writeCap,
      );
    expect(list(rwcapdata)).toEqual([WRITE_SSK]);
    expect(list(damaged)).toEqual([WRITE_SSK]);
  });

  it('tahoeHmac is not RFC 2104 HMAC-SHA256', async () => {
    const { createHmac } = await import('node:crypto');
    const key = pattern(16, 3);
    const data = utf8('salt and ciphertext');
    expect(toHex(tahoeHmac(key, data))).not.toBe(createHmac('sha256', key).update(data).digest('hex'));
  });
});

// ---- children the packer refuses ----------------------------------------------------------

describe('children that a directory cannot hold are refused, naming the child and field', () => {
  const mdmf = ssk(20, 'mdmf');
  it.each<[string, DirChild[], WriteKey | null, number, string]>([
    [
      'a write cap in an immutable directory',
      [child('a', lit('a')), child('w', ssk(1))],
      null,
      1,
      'writeCap',
    ],
    ['a mutable read cap in an immutable directory', [child('r', readOnlyOf(ssk(1)))], null, 0, 'readCap'],
    [
      'a mutable directory read cap in an immutable directory',
      [child('r', readOnlyOf(dir(mdmf))!)],
      null,
      0,
      'readCap',
    ],
    [
      'a write cap as readCap',
      [{ name: 'x', writeCap: null, readCap: WRITE_SSK, metadata: {} }],
      WK,
      0,
      'readCap',
    ],
    [
      'ro. on a write cap',
      [{ name: 'x', writeCap: `ro.${WRITE_SSK}`, readCap: null, metadata: {} }],
      WK,
      0,
      'writeCap',
    ],
    [
      'a read cap as writeCap',
      [{ name: 'x', writeCap: roText(ssk(1)), readCap: null, metadata: {} }],
      WK,
      0,
      'writeCap',
    ],
    [
      'a readCap of another file',
      [{ name: 'x', writeCap: WRITE_SSK, readCap: roText(ssk(11)), metadata: {} }],
      WK,
      0,
      'readCap',
    ],
    [
      'a malformed cap',
      [{ name: 'x', writeCap: null, readCap: 'URI:CHK:nope', metadata: {} }],
      WK,
      0,
      'readCap',
    ],
    [
      'an unknown write cap without a read cap',
      [{ name: 'x', writeCap: 'x-future:1', readCap: null, metadata: {} }],
      WK,
      0,
      'writeCap',
    ],
    [
      'metadata that is an array',
      [{ name: 'x', writeCap: null, readCap: LIT, metadata: [] as unknown as Metadata }],
      WK,
      0,
      'metadata',
    ],
    [
      'metadata with NaN',
      [{ name: 'x', writeCap: null, readCap: LIT, metadata: { t: Number.NaN } }],
      WK,
      0,
      'metadata',
    ],
    [
      'a name that is not a string',
      [{ name: 5 as unknown as string, writeCap: null, readCap: LIT, metadata: {} }],
      WK,
      0,
      'name',
    ],
  ])('%s', (_, children, key, index, field) => {
    const err = thrown(() => packDirectory(children, key), DirectoryChildError);
    expect([err.entry, err.field]).toEqual([index, field]);
    for (const c of children) {
      for (const cap of [c.writeCap, c.readCap])
        if (cap) expect(err.message).not.toContain(cap.split(':')[2] ?? cap);
    }
  });

  it('prefixed and unknown caps are stored as Tahoe stores them', () => {
    const kids: DirChild[] = [
      { name: 'ro', writeCap: null, readCap: `ro.${LIT}`, metadata: {} },
      { name: 'imm', writeCap: null, readCap: `imm.${LIT}`, metadata: {} },
      { name: 'future', writeCap: 'x-future-rw:1', readCap: 'x-future-ro:1', metadata: {} },
      { name: 'future imm', writeCap: null, readCap: 'imm.x-future:2', metadata: {} },
    ];
    const bytes = packDirectory(kids, WK);
    const packed = new TextDecoder('latin1').decode(bytes);
    expect(packed).not.toContain(`ro.${LIT}`);
    expect(packed).not.toContain(`imm.${LIT}`);
    expect(packed).toContain('13:x-future-ro:1,'); // ro. is implied by the slot
    expect(packed).toContain('14:imm.x-future:2,'); // imm. is not implied in a mutable directory
    const listed = [...unpackDirectory(bytes, writer).children.values()];
    expect(listed.map((c) => [c.name, c.writeCap, c.readCap])).toEqual([
      ['future', 'x-future-rw:1', 'ro.x-future-ro:1'],
      ['future imm', null, 'imm.x-future:2'],
      ['imm', null, LIT],
      ['ro', null, LIT],
    ]);
  });
});

// ---- entries kept as read --------------------------------------------------------------------

describe('entries as read are written again only while they still say the same', () => {
  const packed = packDirectory(
    [child('a', ssk(30)), child('b', chk(31), { n: 1 }), child('c', lit('c'))],
    WK,
  );
  const entries = (data: Uint8Array) =>
    [...unpackDirectory(data, writer).children.values()].map((c) => toHex(c.entry!));

  it('a changed child is re-encoded even if its stale entry bytes came along; the others stay byte for byte', () => {
    const { children } = unpackDirectory(packed, writer);
    const b = children.get('b')!;
    children.set('b', { ...b, metadata: { n: 2 } }); // the spread keeps b.entry
    const after = packDirectory(children.values(), WK);
    expect(unpackDirectory(after, writer).children.get('b')!.metadata).toEqual({ n: 2 });
    const [a0, b0, c0] = entries(packed);
    const [a1, b1, c1] = entries(after);
    expect([a1, c1]).toEqual([a0, c0]);
    expect(b1).not.toBe(b0);
  });

  it('a changed cap is re-encoded too', () => {
    const { children } = unpackDirectory(packed, writer);
    children.set('a', { ...children.get('a')!, ...child('a', ssk(32)) });
    expect(unpackDirectory(packDirectory(children.values(), WK), writer).children.get('a')!.writeCap).toBe(
      text(ssk(32)),
    );
  });

  it('under another write key (a copy into another directory) every entry is re-encoded', () => {
    const { children } = unpackDirectory(packed, writer);
    const copy = packDirectory(children.values(), OTHER_WK);
    const listed = unpackDirectory(copy, { mutable: true, writeKey: OTHER_WK }).children;
    expect([...listed.values()].map((c) => c.writeCap)).toEqual(
      [...children.values()].map((c) => c.writeCap),
    );
    // Into an immutable directory, the write caps must go first.
    expect(() => packDirectory(children.values(), null)).toThrow(DirectoryChildError);
    expect(toHex(packDirectory(readOnlyChildren(children.values()).slice(1), null))).toBe(
      toHex(packDirectory(readOnlyChildren([child('b', chk(31), { n: 1 }), child('c', lit('c'))]), null)),
    );
  });
});

// ---- metadata ------------------------------------------------------------------------------

describe('updateMetadata', () => {
  const { update_metadata: cases } = JSON.parse(
    readFileSync(new URL('../vectors/tahoe-dirnodes.json', import.meta.url), 'utf8'),
  ) as { update_metadata: { old: string | null; new: string | null; now: number; result: string }[] };

  it.each(cases)("matches Tahoe's update_metadata: old %s, new %s", (c) => {
    const old = c.old === null ? null : JSON.parse(c.old);
    const before = JSON.stringify(old);
    const got = updateMetadata(old, c.now, c.new === null ? null : JSON.parse(c.new));
    expect(pythonJson(got)).toBe(c.result);
    expect(JSON.stringify(old)).toBe(before); // pure: the old record is untouched
  });

  it('keeps linkcrtime, moves linkmotime', () => {
    const first = updateMetadata(null, 100.5);
    expect(first).toEqual({ tahoe: { linkcrtime: 100.5, linkmotime: 100.5 } });
    const second = updateMetadata(first, 200.25, { mtime: 5.5 });
    expect(second).toEqual({ mtime: 5.5, tahoe: { linkcrtime: 100.5, linkmotime: 200.25 } });
    expect(pythonJson(second)).toBe('{"mtime": 5.5, "tahoe": {"linkcrtime": 100.5, "linkmotime": 200.25}}');
  });
});

// ---- transitively read-only ---------------------------------------------------------------

describe('a read-only holder sees no write authority', () => {
  const subdir = dir(ssk(40));
  const mdmfDir = dir(ssk(41, 'mdmf'));
  const file = ssk(42);
  const mdmfFile = ssk(43, 'mdmf');
  const writeCaps = [subdir, mdmfDir, file, mdmfFile];
  const children = [
    child('subdir', subdir),
    child('mdmf subdir', mdmfDir),
    child('notes', file),
    child('mdmf notes', mdmfFile),
    child('read-only', readOnlyOf(ssk(44))),
    child('chk', chk(45)),
    child('frozen', dir(chk(46))),
    { name: 'future', writeCap: 'x-future-rw:secret', readCap: 'x-future-ro:public', metadata: {} },
  ];
  const packed = packDirectory(children, WK);

  /** Every secret that grants writing: the caps' text, their keys raw and in base32, the directory's write key. */
  const secretTexts = [
    ...writeCaps.map(text),
    ...writeCaps.map((c) =>
      base32Encode(((c.kind === 'dir' ? c.file : c) as { writeKey: Uint8Array }).writeKey),
    ),
    'x-future-rw:secret',
    base32Encode(WK),
  ];
  const secretBytes = [
    ...writeCaps.map((c) => ((c.kind === 'dir' ? c.file : c) as { writeKey: Uint8Array }).writeKey),
    WK,
  ];

  function inspect(value: unknown, seen = new Set<unknown>()): { strings: string[]; bytes: Uint8Array[] } {
    const out = { strings: [] as string[], bytes: [] as Uint8Array[] };
    const walk = (v: unknown) => {
      if (typeof v === 'string') out.strings.push(v);
      else if (v instanceof Uint8Array) out.bytes.push(v);
      else if (typeof v === 'object' && v !== null && !seen.has(v)) {
        seen.add(v);
        if (v instanceof Map) for (const pair of v) walk(pair);
        else for (const k of Reflect.ownKeys(v)) walk((v as Record<PropertyKey, unknown>)[k]);
      }
    };
    walk(value);
    return out;
  }
  const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

  it('the writer sees the write caps (so the check below can fail)', () => {
    const seen = inspect(unpackDirectory(packed, writer));
    for (const s of writeCaps.map(text)) expect(seen.strings).toContain(s);
  });

  for (const [what, view] of [
    ['unpacking without the write key', () => unpackDirectory(packed, reader)],
    [
      'readOnlyChildren of the writer’s children',
      () => readOnlyChildren(unpackDirectory(packed, writer).children.values()),
    ],
  ] as const) {
    it(`${what}: no write cap, write key or bytes holding one`, () => {
      const seen = inspect(view());
      expect(seen.strings.length).toBeGreaterThan(children.length);
      for (const s of seen.strings) for (const secret of secretTexts) expect(s).not.toContain(secret);
      for (const b of seen.bytes) {
        for (const secret of secretBytes) expect(contains(b, secret)).toBe(false);
        for (const secret of secretTexts) expect(contains(b, utf8(secret))).toBe(false);
      }
      expect(seen.bytes).toEqual([]); // in fact no bytes at all: entries are kept for writers only
      // Writable children show their read-only forms; directories stay directories.
      const listed = view() as unknown as { children?: Map<string, DirChild> } & DirChild[];
      const kids = listed.children ? [...listed.children.values()] : [...listed];
      expect(kids.find((c) => c.name === 'subdir')!.readCap).toBe(roText(subdir));
      expect(kids.find((c) => c.name === 'mdmf subdir')!.readCap!.startsWith('URI:DIR2-MDMF-RO:')).toBe(true);
      expect(kids.every((c) => c.writeCap === null)).toBe(true);
    });
  }

  it('the packed bytes hold write caps only encrypted under the directory write key', () => {
    for (const secret of secretTexts) expect(contains(packed, utf8(secret))).toBe(false);
    for (const secret of secretBytes) expect(contains(packed, secret)).toBe(false);
    // The read key (all a reader has) does not open them.
    const readKey = asWriteKey(readKeyOf(WK));
    const { children: asWrongKey } = unpackDirectory(packed, { mutable: true, writeKey: readKey });
    expect([...asWrongKey.values()].some((c) => writeCaps.map(text).includes(c.writeCap ?? ''))).toBe(false);
  });

  it('a write cap put in the read-only slot is not handed to anyone (Tahoe would)', () => {
    const data = entry(utf8('x'), WRITE_SSK, encryptRwCap(WK, new Uint8Array(0)), '{}');
    for (const keys of [reader, writer]) {
      const { children, skipped } = unpackDirectory(data, keys);
      expect(children.size).toBe(0);
      expect(skipped).toEqual([{ entry: 0, name: 'x', reason: expect.not.stringContaining('URI:') }]);
    }
  });

  it('fixture sanity: the write key is 16 bytes', () => {
    expect(fromHex(toHex(WK)).length).toBe(16);
  });
});
