/**
 * `cairn cap` and `cairn debug ssk-cap`: in-process through cli/main.ts for the many cases,
 * and as real processes (cli/bin/cairn.js) for stdin, exit codes and stderr.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCapability, parseCapability, readOnlyOf, verifierOf } from '../../core/caps/index.ts';
import { readVectors, type SskVector } from '../vectors/read.ts';
import { runCairnInProcess } from '../harness/cli-in-process.ts';
import { runCairn } from '../harness/cli.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cairn-cap-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const cairn = (...args: string[]) => runCairnInProcess(args);

/** Runs cli/bin/cairn.js as a process, `input` on its stdin. */
const cairnProcess = (args: string[], input = '') => runCairn(args, null, { stdin: input });

/** stderr without the line the launcher prints when it falls back to tsx. */
const errLines = (stderr: string) =>
  stderr.split('\n').filter((l) => l !== '' && !l.includes('TypeScript loader'));

const FP = 'hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq';
const WK = 'fs6ul2fju2fvb2cfx7gt6ngycm';
const SSK = `URI:SSK:${WK}:${FP}`;
const SSK_RO = `URI:SSK-RO:65ruo2zytr3uxnaxkptdoqkth4:${FP}`;
const SSK_V = `URI:SSK-Verifier:axxzm642zi4vozwfjdijoafbrm:${FP}`;
const CHK = 'URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';
const CHK_V =
  'URI:CHK-Verifier:i5nhq74zw2crkop634ra4hrvzm:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';
const MDMF = 'URI:MDMF:tn2ekpkmearz7k3bivm3ikuz3i:wcqgst36kymoirczlkok5pqdekt5lgsyfw3oh7ecoro3rj5aiyya';
const LIT = 'URI:LIT:nbswy3dp';

describe('cairn cap', () => {
  it('describes an SDMF write cap without printing it back', async () => {
    const r = await cairn('cap', SSK);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'kind: ssk-write',
      'format: sdmf',
      `read-only: ${SSK_RO}`,
      `verify: ${SSK_V}`,
      'storage-index: axxzm642zi4vozwfjdijoafbrm',
    ]);
    expect(r.stdout).not.toContain(WK);
  });

  it.each([
    [
      CHK,
      ['kind: chk', `read-only: ${CHK}`, `verify: ${CHK_V}`, 'storage-index: i5nhq74zw2crkop634ra4hrvzm'],
    ],
    [CHK_V, ['kind: chk-verifier', `verify: ${CHK_V}`, 'storage-index: i5nhq74zw2crkop634ra4hrvzm']],
    [LIT, ['kind: lit', `read-only: ${LIT}`]],
    [
      SSK_RO,
      ['kind: ssk-read', 'format: sdmf', `read-only: ${SSK_RO}`, `verify: ${SSK_V}`, expect.any(String)],
    ],
    [
      SSK_V,
      ['kind: ssk-verifier', 'format: sdmf', `verify: ${SSK_V}`, 'storage-index: axxzm642zi4vozwfjdijoafbrm'],
    ],
  ])('%s: only the lines that apply', async (text, lines) => {
    const r = await cairn('cap', text);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual(lines);
  });

  it('--json gives the same fields as the lines, for every kind', async () => {
    const mdmf = parseCapability(MDMF);
    const kinds = [SSK, SSK_RO, SSK_V, CHK, CHK_V, LIT, MDMF, formatCapability(readOnlyOf(mdmf)!)];
    for (const text of [...kinds, formatCapability(verifierOf(mdmf)!)]) {
      const lines = (await cairn('cap', text)).stdout.split('\n');
      const fromLines = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
      );
      const r = await cairn('cap', '--json', text);
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n').length).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual(fromLines);
    }
    expect(JSON.parse((await cairn('cap', '--json', MDMF)).stdout)).toMatchObject({
      kind: 'ssk-write',
      format: 'mdmf',
    });
  });

  it('--readonly and --verify print the one form alone', async () => {
    expect(await cairn('cap', '--readonly', SSK)).toEqual({ code: 0, stdout: SSK_RO, stderr: '' });
    expect(await cairn('cap', '--verify', SSK)).toEqual({ code: 0, stdout: SSK_V, stderr: '' });
    expect(await cairn('cap', '--verify', SSK_RO)).toEqual({ code: 0, stdout: SSK_V, stderr: '' });
    expect(await cairn('cap', '--readonly', CHK)).toEqual({ code: 0, stdout: CHK, stderr: '' });
    expect(await cairn('cap', '--verify', CHK)).toEqual({ code: 0, stdout: CHK_V, stderr: '' });
    const hinted = await cairn('cap', '--readonly', `${MDMF}:3:131073`);
    expect(hinted.stdout).toMatch(
      /^URI:MDMF-RO:[a-z2-7]{26}:wcqgst36kymoirczlkok5pqdekt5lgsyfw3oh7ecoro3rj5aiyya$/,
    );
  });

  it.each([
    [['cap', '--readonly', SSK_V], /verify cap: it has no read-only form/],
    [['cap', '--readonly', CHK_V], /verify cap: it has no read-only form/],
    [['cap', '--verify', LIT], /LIT cap has no verify cap/],
    [['cap', '--readonly', '--verify', SSK], /exclude each other/],
    [['cap', '--json', '--verify', SSK], /--json/],
    [['cap'], /expected CAP/],
    [['cap', SSK, SSK], /expected one CAP, not 2 arguments/],
    [['cap', '--writable', SSK], /--writable/],
    [['cap', 'URI:SSK:abc:def'], /not a valid cap: the write key field/],
    [['cap', `${SSK}:3:131073`], /not a valid cap: an SDMF cap has 2 fields/],
    [['cap', SSK.replace(WK, WK.toUpperCase())], /not a valid cap: the write key field is not valid base32/],
    [['cap', `URI:${WK}:${FP}`], /not a valid cap: not a cap kind Cairn knows/],
    [['cap', 'hello'], /not a valid cap/],
  ])('%j: one line on stderr, exit 2', async (args, message) => {
    const r = await cairn(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/^cairn cap: /);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain(WK);
    expect(r.stderr).not.toContain(WK.toUpperCase());
  });
});

describe('cairn debug ssk-cap', () => {
  const ssk = readVectors().vectors.filter((v): v is SskVector => v.kind === 'ssk');
  // Twenty keys, SDMF and MDMF, over every (k, N) class.
  const sample = ssk.filter((_, i) => i % 6 === 0);

  it('samples both formats', () => {
    expect(sample.length).toBe(20);
    expect(new Set(sample.map((v) => v.format))).toEqual(new Set(['sdmf', 'mdmf']));
  });

  it.each(sample.map((v, i) => [i, v.format, v] as const))(
    'vector key %i (%s): the PKCS#1 and PKCS#8 PEM both give Tahoe’s cap',
    async (i, format, v) => {
      const pkcs1 = path.join(dir, `key-${i}.pem`);
      writeFileSync(pkcs1, v.pem);
      expect(await cairn('debug', 'ssk-cap', '--format', format, '--key', pkcs1)).toEqual({
        code: 0,
        stdout: v.expected,
        stderr: '',
      });
      const pkcs8 = path.join(dir, `key-${i}.p8.pem`);
      writeFileSync(pkcs8, createPrivateKey(v.pem).export({ type: 'pkcs8', format: 'pem' }));
      expect((await cairn('debug', 'ssk-cap', '--key', pkcs8, '--format', format)).stdout).toBe(v.expected);
      // The other format: same keys, the other prefix.
      const other = format === 'sdmf' ? 'mdmf' : 'sdmf';
      const r = await cairn('debug', 'ssk-cap', '--format', other, '--key', pkcs1);
      expect(r.stdout).toBe(
        v.expected.replace(/^URI:(SSK|MDMF):/, other === 'sdmf' ? 'URI:SSK:' : 'URI:MDMF:'),
      );
    },
  );

  it('refuses bad arguments and keys that are not 2048-bit RSA, exit 2, without echoing the key', async () => {
    const good = path.join(dir, 'good.pem');
    writeFileSync(good, sample[0].pem);
    const small = path.join(dir, 'rsa1024.pem');
    writeFileSync(
      small,
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }),
    );
    const ec = path.join(dir, 'ec.pem');
    writeFileSync(
      ec,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const notPem = path.join(dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    const cut = path.join(dir, 'cut.pem');
    // A line lost from the middle: valid base64, broken DER.
    writeFileSync(cut, sample[0].pem.split('\n').toSpliced(10, 1).join('\n'));
    const body = sample[0].pem.split('\n')[5];
    const cases: [string[], RegExp][] = [
      [['--key', good], /--format is required/],
      [['--format', 'sdmf'], /--key is required/],
      [['--format', 'SDMF', '--key', good], /--format must be sdmf or mdmf/],
      [['--format', 'sdmf', '--key', path.join(dir, 'missing.pem')], /does not exist/],
      [['--format', 'sdmf', '--key', dir], /is a directory/],
      [['--format', 'sdmf', '--key', notPem], /not a PEM private key/],
      [['--format', 'sdmf', '--key', cut], /not a valid RSA key/],
      [['--format', 'sdmf', '--key', small], /2048-bit RSA keys, not 1024-bit/],
      [['--format', 'sdmf', '--key', ec], /not a valid RSA key/],
      [['--format', 'sdmf', '--key', good, 'extra'], /too many arguments/],
    ];
    for (const [args, message] of cases) {
      const r = await cairn('debug', 'ssk-cap', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n').length).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain(body);
    }
  });
});

describe('as real processes', () => {
  it('cap - reads the cap from stdin', async () => {
    const r = await cairnProcess(['cap', '--readonly', '-'], `${SSK}\n`);
    expect(errLines(r.stderr)).toEqual([]);
    expect(r).toMatchObject({ code: 0, stdout: `${SSK_RO}\n` });
    const all = await cairnProcess(['cap', '--json', '-'], MDMF);
    expect(JSON.parse(all.stdout)).toMatchObject({ kind: 'ssk-write', format: 'mdmf' });
  }, 60_000);

  it.each([
    [['cap', '-'], 'URI:SSK:nonsense\n', /^cairn cap: not a valid cap: /],
    [['cap', '--readonly', SSK_V], '', /^cairn cap: that is a verify cap/],
    [['cap', '--verify', '-'], LIT, /^cairn cap: a LIT cap has no verify cap/],
  ])(
    '%j exits 2 with one line on stderr',
    async (args, input, message) => {
      const r = await cairnProcess(args, input);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = errLines(r.stderr);
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(message);
    },
    60_000,
  );

  it('debug ssk-cap prints the cap alone', async () => {
    const v = readVectors().vectors.find((x): x is SskVector => x.kind === 'ssk' && x.format === 'mdmf')!;
    const key = path.join(dir, 'proc.pem');
    writeFileSync(key, v.pem);
    const r = await cairnProcess(['debug', 'ssk-cap', '--format', 'mdmf', '--key', key]);
    expect(errLines(r.stderr)).toEqual([]);
    expect(r).toMatchObject({ code: 0, stdout: `${v.expected}\n` });
  }, 60_000);
});
