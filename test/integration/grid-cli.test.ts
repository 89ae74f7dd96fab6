/** `cairn put` / `cairn get` without a grid: argument checks, LIT caps, and errors that never echo a cap. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, tempDir } from '../harness/grid.ts';
import { runCairn } from '../harness/cli.ts';

afterAll(() => cleanup());

function cairn(
  args: string[],
  home: string,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return runCairn(args, home).then((r) => ({ code: r.code, stdout: r.stdoutBytes, stderr: r.stderr }));
}

describe('cairn put / get without a grid', () => {
  it('keeps tiny files in LIT caps both ways, and makes its secrets private', async () => {
    const home = tempDir('cairn-home-');
    const file = path.join(tempDir('cairn-files-'), 'tiny.txt');
    await fs.writeFile(file, 'hello grid\n');
    const put = await cairn(['put', file], home);
    expect(put.code).toBe(0);
    const cap = put.stdout.toString().trim();
    expect(cap).toMatch(/^URI:LIT:/);
    const get = await cairn(['get', cap], home);
    expect(get.code).toBe(0);
    expect(get.stdout.toString()).toBe('hello grid\n');
    for (const name of ['secret', 'convergence']) {
      const st = await fs.stat(path.join(home, 'private', name));
      expect(st.mode & 0o077).toBe(0);
    }
  });

  it('rejects bad arguments with exit 2 and one line', async () => {
    const home = tempDir('cairn-home-');
    const file = path.join(tempDir('cairn-files-'), 'f.bin');
    await fs.writeFile(file, Buffer.alloc(1000, 1));
    for (const [args, message] of [
      [['put'], /expected FILE/],
      [['put', file, '--k', '5', '--happy', '4'], /--happy \(4\) must be at least --k \(5\)/],
      [['put', file, '--k', '11'], /--k \(11\) cannot exceed --n \(10\)/],
      [['put', file, '--mutable', '--n', '256'], /--n must be a whole number from 1 to 255/],
      [['put', file, '--format', 'mdmf'], /add --mutable/],
      [['put', file, '--mutable', '--format', 'xdmf'], /--format must be mdmf or sdmf/],
      [['put', file, '--k', '0'], /--k must be a whole number from 1 to 256/],
      [['put', path.join(home, 'missing')], /does not exist/],
      [['put', file], /no grid given and none started here/],
      [['put', file, '--grid', 'ftp://x'], /--grid must be the URL of the relay or of any storage server/],
      [['get'], /expected CAP/],
      [['put', home], /is a folder; cairn put stores one file/],
      [['get', 'URI:LIT:nbswy3dp', path.join(home, 'no', 'such', 'out')], /the folder .* does not exist/],
      [['get', 'URI:LIT:nbswy3dp', home], /is a folder; give the path of a file/],
    ] as const) {
      const r = await cairn([...args], home);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('refuses malformed and verify caps without repeating them', async () => {
    const home = tempDir('cairn-home-');
    const bad = 'URI:CHK:notbase32!:xyz:3:10:100';
    const r = await cairn(['get', bad], home);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cairn get: the key field is not valid base32/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('notbase32');
    const verifier = `URI:CHK-Verifier:${'a'.repeat(26)}:${'a'.repeat(52)}:3:10:1000`;
    const v = await cairn(['get', verifier], home);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/verify cap/);
    expect(v.stderr).not.toContain('a'.repeat(26));
  });
});
