/**
 * Directories from the command line, as child processes against a grid on 127.0.0.1:
 * aliases, mkdir/ls/ln/mv/rm, `cp -r` of a tree with spaces and non-ASCII names both ways
 * (byte-equal), backup twice (the second uploads no file), and errors as one line, exit 2.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { cleanup, startTestGrid, type TestGrid, tempDir } from '../harness/grid.ts';
import { type CliRun, runCairn } from '../harness/cli.ts';

let grid: TestGrid;
let home: string;

beforeAll(async () => {
  grid = await startTestGrid({ servers: 10 });
  home = tempDir('cairn-home-');
}, 60_000);
afterAll(async () => {
  await grid.close();
  cleanup();
});

const NO_GRID = new Set(['list-aliases', 'add-alias', 'cap']);
function cairn(...args: string[]): Promise<CliRun> {
  return runCairn(NO_GRID.has(args[0]) ? args : [...args, '--grid', grid.relay.url], home);
}

async function ok(...args: string[]): Promise<string> {
  const r = await cairn(...args);
  expect(r.stderr, `cairn ${args.join(' ')}`).toBe('');
  expect(r.code, `cairn ${args.join(' ')}`).toBe(0);
  return r.stdout;
}

/** 50 files in 5 levels, names with spaces and non-ASCII, sizes 0..70 KB. */
async function makeTree(root: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const dirs = ['', 'a dir', 'a dir/ünïcödé', 'a dir/ünïcödé/deeper 3', 'a dir/ünïcödé/deeper 3/日本語 four'];
  let n = 0;
  for (const d of dirs) {
    await fs.mkdir(path.join(root, d), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const rel = path.join(d, `file ${i} ✓.bin`);
      const data = pattern((n * 7919) % 70_000, n + 1);
      await fs.writeFile(path.join(root, rel), data);
      files.set(rel, data);
      n++;
    }
  }
  return files;
}

async function readTree(root: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const rel of (await fs.readdir(root, { recursive: true })) as string[]) {
    const st = await fs.stat(path.join(root, rel));
    if (st.isFile()) out.set(rel, await fs.readFile(path.join(root, rel)));
  }
  return out;
}

describe('directories from the CLI', () => {
  it('aliases, mkdir, ls, ln, mv, rm', async () => {
    expect(await ok('create-alias', 'home')).toMatch(/Alias 'home' created/);
    const st = await fs.stat(path.join(home, 'private', 'aliases'));
    expect(st.mode & 0o777).toBe(0o600);
    const aliases = await ok('list-aliases');
    expect(aliases).toMatch(/^home: URI:DIR2:[a-z2-7]+:[a-z2-7]+\n$/);
    expect(await ok('list-aliases', '--readonly-uri')).toMatch(/^home: URI:DIR2-RO:/);
    expect(JSON.parse(await ok('list-aliases', '--json')).home.readonly).toMatch(/^URI:DIR2-RO:/);

    await ok('mkdir', 'home:docs');
    const f = path.join(tempDir('cairn-f-'), 'notes.txt');
    await fs.writeFile(f, pattern(5000, 1));
    await ok('cp', f, 'home:docs');
    expect(await ok('ls', 'home:docs')).toBe('notes.txt\n');
    const long = await ok('ls', '-l', 'home:');
    expect(long).toMatch(/^drwx +- \d{4}-\d\d-\d\d \d\d:\d\d docs\n$/);
    const json = JSON.parse(await ok('ls', '--json', 'home:docs'));
    expect(json[0]).toBe('dirnode');
    expect(json[1].children['notes.txt'][0]).toBe('filenode');
    expect(json[1].children['notes.txt'][1].size).toBe(5000);
    expect(json[1].children['notes.txt'][1].metadata.mtime).toBeGreaterThan(1e9);

    await ok('ln', 'home:docs/notes.txt', 'home:copy.txt');
    await ok('mv', 'home:copy.txt', 'home:docs/renamed.txt');
    expect((await ok('ls', 'home:docs')).split('\n').filter(Boolean)).toEqual(['notes.txt', 'renamed.txt']);
    await ok('rm', 'home:docs/notes.txt');
    expect(await ok('ls', 'home:docs')).toBe('renamed.txt\n');
    const out = path.join(tempDir('cairn-o-'), 'back.txt');
    await ok('cp', 'home:docs/renamed.txt', out);
    expectBytesEqual(await fs.readFile(out), pattern(5000, 1), 'cp back');
  }, 120_000);

  it('cp -r copies a tree of 50 files in 5 levels to the grid and back, byte for byte', async () => {
    const src = path.join(tempDir('cairn-tree-'), 'My Tree');
    const files = await makeTree(src);
    await ok('create-alias', 'trees');
    await ok('cp', '-r', src, 'trees:');
    expect(await ok('ls', 'trees:My Tree')).toMatch(/a dir\n/);
    const back = tempDir('cairn-back-');
    await ok('cp', '-r', 'trees:My Tree', back);
    const got = await readTree(path.join(back, 'My Tree'));
    expect([...got.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [rel, data] of files) expectBytesEqual(got.get(rel)!, data, rel);
  }, 180_000);

  it('errors are one line with exit 2: missing alias, no such child, a read-only directory', async () => {
    await ok('create-alias', 'errs');
    const ro = JSON.parse(await ok('list-aliases', '--json')).errs.readonly;
    await ok('add-alias', 'readonly', ro);
    const f = path.join(tempDir('cairn-f-'), 'x.txt');
    await fs.writeFile(f, 'x');
    for (const [args, message] of [
      [['ls', 'nosuch:'], /no alias 'nosuch'/],
      [['ls', 'errs:not-there'], /has no child named 'not-there'/],
      [['rm', 'errs:not-there'], /has no child named 'not-there'/],
      [['cp', f, 'readonly:x.txt'], /read-only directory cap/],
      [['mkdir', 'readonly:new'], /read-only directory cap/],
      [['create-alias', 'errs'], /alias 'errs' already exists/],
      [['cp', tempDir('cairn-d-'), 'errs:'], /is a folder: add -r/],
    ] as const) {
      const r = await cairn(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/URI:/);
    }
  }, 120_000);

  it('backup makes Archives/<time> and Latest; a second backup of an unchanged tree uploads no file', async () => {
    const src = tempDir('cairn-bk-');
    const files = await makeTree(src);
    await ok('create-alias', 'bk');
    await ok('mkdir', 'bk:backups');
    const first = await ok('backup', src, 'bk:backups');
    expect(first).toMatch(
      /^50 files uploaded \(0 reused\), 5 directories created \(0 reused\); archive \d{4}-\d\d-\d\d_\d\d:\d\d:\d\dZ/,
    );
    const db = path.join(home, 'private', 'backupdb.json');
    const firstDb = await fs.stat(db);
    const second = await ok('backup', src, 'bk:backups');
    expect(second).toMatch(/^0 files uploaded \(50 reused\), 0 directories created \(5 reused\)/);
    // Nothing new to remember: the database is left as it was (it is replaced whole when saved).
    expect((await fs.stat(db)).ino).toBe(firstDb.ino);
    // One file changes: it alone is uploaded, and the directories above it are new.
    await fs.writeFile(path.join(src, 'a dir', 'file 3 ✓.bin'), pattern(123, 99));
    const third = await ok('backup', src, 'bk:backups');
    expect(third).toMatch(/^1 files uploaded \(49 reused\), 2 directories created \(3 reused\)/);
    expect((await fs.stat(db)).ino).not.toBe(firstDb.ino);
    expect((await ok('ls', 'bk:backups/Archives')).trim().split('\n')).toHaveLength(3);
    const out = tempDir('cairn-restore-');
    await ok('cp', '-r', 'bk:backups/Latest', out);
    const got = await readTree(path.join(out, 'Latest'));
    files.set(path.join('a dir', 'file 3 ✓.bin'), pattern(123, 99));
    expect(got.size).toBe(files.size);
    for (const [rel, data] of files) expectBytesEqual(got.get(rel)!, data, rel);
    // Immutable: the snapshot cannot be written.
    const r = await cairn('cp', path.join(src, 'a dir', 'file 3 ✓.bin'), 'bk:backups/Latest/x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/immutable/);
  }, 240_000);
});
