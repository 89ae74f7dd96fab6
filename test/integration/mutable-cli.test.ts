/** `cairn put --mutable`, `cairn put FILE CAP` and `cairn get` of mutable caps, as child processes against a grid on 127.0.0.1. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { cleanup, startTestGrid, type TestGrid, tempDir } from '../harness/grid.ts';
import { type CliRun, runCairn } from '../harness/cli.ts';

let grid: TestGrid;
let home: string;
let files: string;

beforeAll(async () => {
  grid = await startTestGrid({ servers: 5 });
  home = tempDir('cairn-home-');
  files = tempDir('cairn-files-');
}, 60_000);
afterAll(async () => {
  await grid.close();
  cleanup();
});

function cairn(args: string[]): Promise<CliRun> {
  return runCairn([...args, ...(args[0] === 'cap' ? [] : ['--grid', grid.relay.url])], home);
}

describe('cairn with mutable files', () => {
  it('creates, reads, replaces and shares a mutable file; a read-only cap cannot write', async () => {
    for (const [format, prefix] of [
      ['mdmf', 'URI:MDMF:'],
      ['sdmf', 'URI:SSK:'],
    ] as const) {
      const first = path.join(files, `${format}-1.bin`);
      const data = pattern(300_000, 5);
      await fs.writeFile(first, data);
      const put = await cairn(['put', '--mutable', '--format', format, first]);
      expect(put.stderr.replace(/\r?uploading[^\n\r]*/g, '').trim()).toBe('');
      expect(put.code).toBe(0);
      const writeCap = put.stdout.trim();
      expect(writeCap.startsWith(prefix)).toBe(true);

      const out = path.join(files, `${format}-out.bin`);
      expect((await cairn(['get', writeCap, out])).code).toBe(0);
      expectBytesEqual(await fs.readFile(out), data, `${format} read back`);

      const second = path.join(files, `${format}-2.bin`);
      const next = pattern(1234, 6);
      await fs.writeFile(second, next);
      const replace = await cairn(['put', second, writeCap]);
      expect(replace.code).toBe(0);
      expect(replace.stdout.trim()).toBe(writeCap);

      const ro = await cairn(['cap', '--readonly', writeCap]);
      const readCap = ro.stdout.trim();
      expect(readCap.startsWith(`${prefix.slice(0, -1)}-RO:`)).toBe(true);
      const got = await cairn(['get', readCap, out]);
      expect(got.code).toBe(0);
      expectBytesEqual(await fs.readFile(out), next, `${format} after replace`);

      const refused = await cairn(['put', first, readCap]);
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/read-only cap/);
      expect(refused.stderr).not.toContain(readCap.split(':')[2]);
      // Nothing changed.
      expect((await cairn(['get', readCap, out])).code).toBe(0);
      expectBytesEqual(await fs.readFile(out), next, `${format} unchanged`);
    }
  }, 120_000);

  it('refuses to replace an immutable file and explains why', async () => {
    const f = path.join(files, 'imm.bin');
    await fs.writeFile(f, pattern(1000, 9));
    const put = await cairn(['put', '--happy', '5', f]);
    expect(put.code).toBe(0);
    const r = await cairn(['put', f, put.stdout.trim()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/immutable file: its contents can never change/);
  }, 60_000);
});
