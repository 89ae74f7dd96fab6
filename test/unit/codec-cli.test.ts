/**
 * `cairn debug fec-encode / fec-decode / fec-bench` on real files: shares byte-equal to
 * python3-zfec's blocks, decode from any k, and bad arguments exiting 2 with one line.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Zfec } from '../../bench/codec-zfec.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import './codec-build.ts';
import { runCairnInProcess } from '../harness/cli-in-process.ts';

let dir: string;
let zfec: Zfec;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cairn-fec-'));
  zfec = Zfec.start();
});
afterAll(() => {
  zfec.close();
  rmSync(dir, { recursive: true, force: true });
});

const cairn = (...args: string[]) => runCairnInProcess(args);

function randomFile(name: string, len: number): string {
  const file = path.join(dir, name);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + (i >> 7) * 17) ^ (len & 0xff);
  writeFileSync(file, b);
  return file;
}

describe('cairn debug fec-*', () => {
  it.each([
    [3, 10, 3 * 1001],
    [1, 1, 5],
    [2, 3, 0],
    [71, 255, 71 * 33],
  ])('fec-encode (%i,%i) of %i bytes writes zfec blocks; fec-decode rebuilds it', async (k, n, len) => {
    const input = randomFile(`in-${k}-${n}`, len);
    const outDir = path.join(dir, `out-${k}-${n}`);
    expect((await cairn('debug', 'fec-encode', '--k', String(k), '--n', String(n), input, outDir)).code).toBe(
      0,
    );
    const bytes = new Uint8Array(readFileSync(input));
    const size = len / k;
    const blocks = Array.from({ length: k }, (_, j) => bytes.subarray(j * size, (j + 1) * size));
    const expected = await zfec.encode(k, n, blocks);
    for (let i = 0; i < n; i++) {
      expect(toHex(readFileSync(path.join(outDir, String(i)))), `share ${i}`).toBe(toHex(expected[i]));
    }
    const shares = Array.from({ length: k }, (_, i) => n - 1 - i);
    const back = path.join(dir, `back-${k}-${n}`);
    const r = await cairn(
      'debug',
      'fec-decode',
      '--k',
      String(k),
      '--n',
      String(n),
      '--shares',
      shares.join(','),
      outDir,
      back,
    );
    expect(r.code).toBe(0);
    expect(toHex(readFileSync(back))).toBe(toHex(bytes));
  });

  it('bad arguments give one line and exit code 2', async () => {
    const input = randomFile('bad-in', 30);
    const outDir = path.join(dir, 'bad-out');
    expect((await cairn('debug', 'fec-encode', '--k', '3', '--n', '10', input, outDir)).code).toBe(0);
    const cases: string[][] = [
      ['fec-encode', '--k', '4', '--n', '3', input, outDir],
      ['fec-encode', '--k', '3', '--n', '257', input, outDir],
      ['fec-encode', '--k', '7', '--n', '10', input, outDir],
      ['fec-encode', '--k', '3', '--n', '10', path.join(dir, 'nope'), outDir],
      ['fec-encode', '--k', '3', input, outDir],
      ['fec-decode', '--k', '3', '--n', '10', '--shares', '1,2', outDir, path.join(dir, 'x')],
      ['fec-decode', '--k', '3', '--n', '10', '--shares', '1,2,2', outDir, path.join(dir, 'x')],
      ['fec-decode', '--k', '3', '--n', '10', '--shares', '1,2,10', outDir, path.join(dir, 'x')],
      [
        'fec-decode',
        '--k',
        '3',
        '--n',
        '10',
        '--shares',
        '1,2,3',
        path.join(dir, 'nodir'),
        path.join(dir, 'x'),
      ],
      ['fec-bench', '--k', '5', '--n', '4'],
    ];
    for (const args of cases) {
      const r = await cairn('debug', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n'), args.join(' ')).toHaveLength(1);
    }
    truncateSync(path.join(outDir, '5'), 3);
    const r = await cairn(
      'debug',
      'fec-decode',
      '--k',
      '3',
      '--n',
      '10',
      '--shares',
      '5,6,7',
      outDir,
      path.join(dir, 'x'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/differ in length/);
  });

  it('fec-bench prints one line of figures', async () => {
    const r = await cairn('debug', 'fec-bench', '--k', '3', '--n', '10', '--segment', '4096', '--mib', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^encode MB\/s: \d+(\.\d+)? decode MB\/s: \d+(\.\d+)?$/);
  });
});
