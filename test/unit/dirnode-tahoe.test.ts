/**
 * Byte-exactness against Tahoe-LAFS: directories that Tahoe's own dirnode.py packed
 * (test/vectors/tahoe-dirnodes.json, see its README) must come out of packDirectory byte for
 * byte from the same children, and unpackDirectory must list what Tahoe's _unpack_contents
 * listed, for a write-cap holder and a read-cap holder.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asWriteKey } from '../../core/mutable/keys.ts';
import { fromHex, toHex } from '../../core/primitives/bytes.ts';
import {
  type DirChild,
  DirectoryFormatError,
  type DirectoryKeys,
  packDirectory,
  pythonJson,
  readOnlyChildren,
  tahoeHmac,
  unpackDirectory,
} from '../../core/dirnode/index.ts';
import { expectBytesEqual } from '../harness/bytes.ts';

interface Listed {
  name: string;
  rw: string | null;
  ro: string | null;
  metadata: string;
}
interface Case {
  name: string;
  mutable: boolean;
  packable: boolean;
  children: Listed[];
  packed: string;
  writer?: Listed[];
  reader: Listed[];
}
interface Crafted {
  name: string;
  mutable: boolean;
  packed: string;
  writer?: Listed[] | { error: string };
  reader: Listed[] | { error: string };
}
const fixture = JSON.parse(
  readFileSync(new URL('../vectors/tahoe-dirnodes.json', import.meta.url), 'utf8'),
) as {
  writekey: string;
  cases: Case[];
  crafted: Crafted[];
  hmac: { key: string; data: string; mac: string }[];
};
const writeKey = asWriteKey(fromHex(fixture.writekey));

const writer = (mutable: boolean): DirectoryKeys => ({ mutable, writeKey: mutable ? writeKey : null });
const reader = (mutable: boolean): DirectoryKeys => ({ mutable, writeKey: null });

/** What Tahoe listed, in Cairn's terms (metadata compared as Python writes it). */
function listed(children: Iterable<DirChild>): Listed[] {
  return [...children].map((c) => ({
    name: c.name,
    rw: c.writeCap,
    ro: c.readCap,
    metadata: pythonJson(c.metadata),
  }));
}
/** Tahoe's listing with metadata re-spelled as Cairn would (for JSON that JS values cannot spell). */
function respelled(list: Listed[]): Listed[] {
  return list.map((c) => ({ ...c, metadata: pythonJson(JSON.parse(c.metadata)) }));
}

describe("Tahoe's own packed directories", () => {
  it('the fixture covers mutable and immutable, empty, one child, mixed kinds, names and metadata', () => {
    const names = fixture.cases.map((c) => c.name);
    expect(names).toContain('empty mutable');
    expect(names).toContain('empty immutable');
    expect(names).toContain('mixed children, mutable');
    expect(names).toContain('mixed children, immutable');
    const mixed = fixture.cases.find((c) => c.name === 'mixed children, mutable')!;
    expect(mixed.children.some((c) => c.rw?.startsWith('URI:DIR2-MDMF:'))).toBe(true);
    expect(mixed.children.some((c) => c.ro?.startsWith('URI:LIT:'))).toBe(true);
    expect(mixed.children.some((c) => c.name.normalize('NFC') !== c.name)).toBe(true);
  });

  for (const c of fixture.cases) {
    const packed = fromHex(c.packed);
    const given: DirChild[] = c.children.map((x) => ({
      name: x.name,
      writeCap: x.rw,
      readCap: x.ro,
      metadata: JSON.parse(x.metadata),
    }));

    if (c.packable) {
      it(`${c.name}: packDirectory gives Tahoe's bytes`, () => {
        expectBytesEqual(packDirectory(given, c.mutable ? writeKey : null), packed, c.name);
      });
    }

    it(`${c.name}: unpackDirectory lists what Tahoe listed`, () => {
      const fix = c.packable ? (l: Listed[]) => l : respelled;
      const asReader = unpackDirectory(packed, reader(c.mutable));
      expect(asReader.skipped).toEqual([]);
      expect(listed(asReader.children.values())).toEqual(fix(c.reader));
      if (c.writer) {
        const asWriter = unpackDirectory(packed, writer(true));
        expect(asWriter.skipped).toEqual([]);
        expect(listed(asWriter.children.values())).toEqual(fix(c.writer));
        // Transitively read-only: the writer's children, diminished, are exactly what a reader sees.
        expect(listed(readOnlyChildren(asWriter.children.values()))).toEqual(fix(c.reader));
      }
    });

    if (c.mutable) {
      it(`${c.name}: a writer's unchanged children repack to Tahoe's bytes`, () => {
        const { children } = unpackDirectory(packed, writer(true));
        expectBytesEqual(packDirectory(children.values(), writeKey), packed, c.name);
      });
    }
  }

  it('JSON that JS values cannot spell (2.0, integer-like keys) survives a repack', () => {
    const c = fixture.cases.find((x) => !x.packable)!;
    const packed = fromHex(c.packed);
    const text = new TextDecoder().decode(packed);
    expect(text).toContain('"mtime": 2.0');
    expect(text).toContain('{"b": 1, "10": 2, "2": 3}');
    const { children } = unpackDirectory(packed, writer(true));
    // From scratch, Cairn spells them its own way: the bytes differ...
    const fresh = [...children.values()].map(({ entry: _, ...rest }) => rest);
    expect(toHex(packDirectory(fresh, writeKey))).not.toBe(c.packed);
    // ...but the entries as read are kept while the children are unchanged.
    expectBytesEqual(packDirectory(children.values(), writeKey), packed);
  });
});

describe("Tahoe's reading of hand-made contents", () => {
  for (const c of fixture.crafted) {
    it(c.name, () => {
      const data = fromHex(c.packed);
      const views: [DirectoryKeys, Listed[] | { error: string } | undefined][] = [
        [reader(c.mutable), c.reader],
        [writer(c.mutable), c.writer],
      ];
      for (const [keys, tahoe] of views) {
        if (tahoe === undefined) continue;
        if ('error' in tahoe) {
          expect(() => unpackDirectory(data, keys)).toThrow(DirectoryFormatError);
          continue;
        }
        const ours = unpackDirectory(data, keys);
        if (c.name.startsWith('a write cap in the read-only slot')) {
          // Cairn's deliberate difference: Tahoe lists the write cap even to read-only holders.
          expect(tahoe.some((x) => x.rw?.startsWith('URI:SSK:'))).toBe(true);
          expect([...ours.children.keys()]).toEqual([]);
          expect(ours.skipped).toEqual([{ entry: 0, name: 'x', reason: expect.stringMatching(/write cap/) }]);
          continue;
        }
        expect(listed(ours.children.values())).toEqual(tahoe);
        // Tahoe drops a child it cannot use; Cairn drops it too and says so.
        const dropped = new Set([...ours.skipped].map((s) => s.name));
        for (const s of dropped) expect(tahoe.some((x) => x.name === s)).toBe(false);
      }
    });
  }
});

describe("Tahoe's dirnode MAC", () => {
  it.each(fixture.hmac)('hashutil.hmac gives %#', ({ key, data, mac }) => {
    expect(toHex(tahoeHmac(fromHex(key), fromHex(data)))).toBe(mac);
  });
});
