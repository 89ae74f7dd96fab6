/**
 * Directories in core with servers on 127.0.0.1: a 1,000-entry directory listed and changed;
 * two clients adding different children at once, both kept; a read-only holder, all the way
 * down, never sees anything that writes (every field of every listing inspected).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCapability } from '../../core/caps/index.ts';
import { type DirectoryNode, Grid, memoryServerListCache, readAll } from '../../core/client/index.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { pattern } from '../harness/bytes.ts';
import { cleanup, startTestGrid, type TestGrid } from '../harness/grid.ts';

let grid: TestGrid;
let codec: Awaited<ReturnType<typeof loadCodec>>;
const clients: Grid[] = [];

function client(secret: number): Grid {
  const g = new Grid({
    url: grid.relay.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec }),
    secrets: async () => ({ lease: new Uint8Array(32).fill(secret), convergence: new Uint8Array(32) }),
  });
  clients.push(g);
  return g;
}

beforeAll(async () => {
  grid = await startTestGrid({ servers: 10 });
  codec = await loadCodec();
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await grid.close();
  cleanup();
});

const lit = (i: number) => `URI:LIT:${base32Encode(new TextEncoder().encode(`child number ${i} of many`))}`;

describe('directories', () => {
  it('a 1,000-entry directory is listed and changed', async () => {
    const g = client(1);
    const dir = await g.createDirectory({ format: 'mdmf' });
    await dir.setMany(
      Array.from({ length: 1000 }, (_, i) => ({ name: `entry ${String(i).padStart(4, '0')}`, cap: lit(i) })),
    );
    const listed = await g.openDirectory(dir.readCap!).list();
    expect(listed.size).toBe(1000);
    expect([...listed.keys()][0]).toBe('entry 0000');
    expect(listed.get('entry 0999')?.cap).toBe(lit(999));
    await dir.delete('entry 0500');
    await dir.rename('entry 0001', 'renamed');
    await dir.set('new one', lit(1000));
    const after = await dir.list();
    expect(after.size).toBe(1000);
    expect(after.has('entry 0500')).toBe(false);
    expect(after.has('entry 0001')).toBe(false);
    expect(after.get('renamed')?.cap).toBe(lit(1));
    expect(after.get('new one')?.cap).toBe(lit(1000));
    await expect(dir.get('entry 0500')).rejects.toThrow(/no child named 'entry 0500'/);
    await expect(dir.set('renamed', lit(2), { overwrite: false })).rejects.toThrow(
      /already has a child named 'renamed'/,
    );
  }, 120_000);

  it('setUnique links under the next free name, in one change; two at once both get theirs', async () => {
    const g = client(3);
    const dir = await g.createDirectory();
    expect(await dir.setUnique('archive', lit(1))).toBe('archive');
    expect(await dir.setUnique('archive', lit(2))).toBe('archive-2');
    await dir.set('archive-3', lit(3));
    expect(await dir.setUnique('archive', lit(4))).toBe('archive-4');
    // Two clients at once: one collides, runs again on the other's version, takes the next name.
    const other = client(4).openDirectory(dir.cap);
    const names = await Promise.all([dir.setUnique('later', lit(5)), other.setUnique('later', lit(6))]);
    expect(new Set(names)).toEqual(new Set(['later', 'later-2']));
    const listed = await dir.list();
    expect([...listed.keys()].sort()).toEqual([
      'archive',
      'archive-2',
      'archive-3',
      'archive-4',
      'later',
      'later-2',
    ]);
    expect(new Set([listed.get('later')?.cap, listed.get('later-2')?.cap])).toEqual(
      new Set([lit(5), lit(6)]),
    );
    expect(listed.get(names[0])?.cap).toBe(lit(5));
    await expect(dir.setUnique('a/b', lit(7))).rejects.toThrow();
  }, 60_000);

  it('two clients adding different children at once both survive', async () => {
    const a = client(1);
    const dir = await a.createDirectory();
    const b = client(2).openDirectory(dir.cap);
    await Promise.all([
      (async () => {
        for (let i = 0; i < 6; i++) await dir.set(`from a ${i}`, lit(i));
      })(),
      (async () => {
        for (let i = 0; i < 6; i++) await b.set(`from b ${i}`, lit(100 + i));
      })(),
    ]);
    const names = [...(await client(3).openDirectory(dir.readCap!).list()).keys()].sort();
    expect(names).toEqual(
      [
        ...Array.from({ length: 6 }, (_, i) => `from a ${i}`),
        ...Array.from({ length: 6 }, (_, i) => `from b ${i}`),
      ].sort(),
    );
  }, 120_000);

  it('a read-only holder sees nothing that writes, at any depth', async () => {
    const g = client(1);
    const root = await g.createDirectory();
    const sub = await root.mkdir('sub dir');
    const deeper = await sub.mkdir('deeper');
    const editable = await g.createMutable(new TextEncoder().encode('an editable file'), { format: 'mdmf' });
    const { node: fixed } = await g.upload(bytesSource(pattern(10_000, 4)), {
      params: { k: 3, happy: 7, n: 10, maxSegmentSize: 131072 },
    });
    await root.set('editable.txt', editable.cap);
    await sub.set('fixed.bin', fixed.cap);
    await deeper.set('editable too.txt', editable.cap);
    // Everything that writes, and the keys inside those caps.
    const writeCaps = [root.cap, sub.cap, deeper.cap, editable.cap];
    const writeKeys = writeCaps.map((c) => {
      const cap = parseCapability(c);
      const file = cap.kind === 'dir' ? cap.file : cap;
      if (file.kind !== 'ssk-write') throw new Error('expected write caps');
      return base32Encode(file.writeKey);
    });

    const reader = client(9);
    const seen: string[] = [];
    const walk = async (dir: DirectoryNode, depth: number): Promise<void> => {
      expect(dir.writable).toBe(false);
      seen.push(
        JSON.stringify({
          cap: dir.cap,
          writeCap: dir.writeCap,
          readCap: dir.readCap,
          verifyCap: dir.verifyCap,
        }),
      );
      for (const e of (await dir.list()).values()) {
        seen.push(JSON.stringify(e));
        expect(e.writeCap, `${e.name} at depth ${depth}`).toBeNull();
        const node = reader.open(e.cap);
        expect(node.writable, e.name).toBe(false);
        seen.push(JSON.stringify({ cap: node.cap, writeCap: node.writeCap, readCap: node.readCap }));
        if (e.kind === 'directory') await walk(node as DirectoryNode, depth + 1);
        else expect((await readAll(node)).length).toBeGreaterThan(0);
      }
    };
    await walk(reader.openDirectory(root.readCap!), 0);
    expect(seen.length).toBeGreaterThan(10);
    const all = seen.join('\n');
    for (const c of writeCaps) expect(all).not.toContain(c);
    for (const k of writeKeys) expect(all).not.toContain(k);
    expect(all).not.toMatch(/URI:(SSK|MDMF|DIR2|DIR2-MDMF):/);
    // And the raw contents a read-only holder fetches hold no write cap in any form.
    const raw = Buffer.from(await readAll(reader.openDirectory(root.readCap!).file)).toString('latin1');
    for (const c of writeCaps) expect(raw).not.toContain(c);
  }, 120_000);
});
