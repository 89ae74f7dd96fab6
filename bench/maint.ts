/**
 * `npm run bench:maint`: keeping files alive, through `cairn grid` (relay + 10 storage server
 * processes on 127.0.0.1), (3,7,10), 128 KiB segments, all in one run:
 *  - check of 1,000 files: `cairn deep-check` over a directory holding them (one process
 *    walks the directory and checks each file: every server asked which shares it holds),
 *    files/s; beside `cairn check CAP` run once per file for a few of them (a process per
 *    file, what scripting `cairn check` over 1,000 caps would cost);
 *  - verify (`cairn check --verify`: every byte of every share read and hashed) of a 256 MiB
 *    file, beside `cairn get` of the same file, run before and after it;
 *  - repair (`cairn check --repair`) of that file after 6 of its 10 shares were deleted from
 *    the servers' disks, beside its upload (`cairn put`, run twice from fresh client homes, so
 *    nothing is deduplicated: once before the verify, once after the repair).
 * MB/s = 10^6 B of the file per second of CLI wall clock (node start-up included). A verify
 * reads all N shares, N/k = 3.3x the bytes a get reads; "share MB/s" counts those bytes.
 *
 * Goals (issue "Keeping files alive", point 8): verify at least 0.8x the get's MB/s; repair
 * at most 1.2x the upload's time.
 *
 * Options: --files 1000 (check), --size 256 (MiB, verify and repair), --keep.
 */
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseCapability, storageIndexOf } from '../core/caps/index.ts';
import { base32Encode } from '../core/primitives/base32.ts';
import {
  type CliGrid,
  fixed,
  MiB,
  type Measured,
  makeFile,
  pct,
  sha256File,
  startGrid,
  table,
  timedCairn,
} from './cli-grid.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const FILES = flag('files', 1000);
const SIZE = Math.round(flag('size', 256) * MiB);
/** `cairn check` processes run one per file, for the per-process baseline. */
const SINGLE_CHECKS = Math.min(5, FILES);

const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
const mbs = (bytes: number, s: number) => bytes / 1e6 / s;

function row(what: string, m: Measured, cells: string[]): string[] {
  return [
    what,
    fixed(m.seconds, 2),
    ...cells,
    fixed(m.clientCpu, 2),
    fixed(m.serversCpu, 2),
    fixed(m.clientPeak / 1e6, 0),
    pct(m.others),
  ];
}

/** The mean of several runs of one command (figures only). */
function meanOf(ms: Measured[]): Measured {
  const mean = (f: (m: Measured) => number) => ms.reduce((a, m) => a + f(m), 0) / ms.length;
  return {
    ...ms[0],
    seconds: mean((m) => m.seconds),
    clientCpu: mean((m) => m.clientCpu),
    serversCpu: mean((m) => m.serversCpu),
    clientPeak: Math.max(...ms.map((m) => m.clientPeak)),
    others: mean((m) => m.others),
  };
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-maint-'));
  const home = (name: string) => ({ ...process.env, CAIRN_HOME: path.join(tmp, `home-${name}`) });
  const env = home('main');
  let grid: CliGrid | undefined;
  try {
    console.log(
      `maintenance bench: 10 local servers, (3,7,10), 128 KiB segments; ${os.cpus().length} cores\n` +
        'MB/s = 10^6 B of the file per second of CLI wall clock (node start-up included)\n',
    );
    grid = await startGrid(path.join(tmp, 'grid'), process.env);
    const g = ['--grid', grid.url];
    const cairn = (cli: string[], e = env, ok = [0]) => timedCairn([...cli, ...g], e, grid!.servers, ok);

    // Check: a directory of FILES small files (their size does not matter: nothing is read).
    const folder = path.join(tmp, 'files');
    await fs.mkdir(folder);
    for (let i = 0; i < FILES; i++) {
      await fs.writeFile(
        path.join(folder, `file-${String(i).padStart(5, '0')}.bin`),
        randomBytes(randomInt(1024, 64 * 1024 + 1)),
      );
    }
    await cairn(['create-alias', 'm']);
    const upload = await cairn(['cp', '-r', folder, 'm:']);
    console.log(`setup: ${FILES} files uploaded by cp -r in ${fixed(upload.seconds)} s`);
    const deep = await cairn(['deep-check', 'm:files']);
    const summary = /objects: (\d+), healthy: (\d+)/.exec(deep.stdout);
    if (Number(summary?.[1]) !== FILES + 1 || Number(summary?.[2]) !== FILES + 1)
      throw new Error(`deep-check did not find ${FILES + 1} healthy objects: ${deep.stdout}`);
    const ls = await cairn(['ls', '--json', 'm:files']);
    const children = (
      JSON.parse(ls.stdout) as [string, { children: Record<string, [string, { ro_uri: string }]> }]
    )[1].children;
    const caps = Object.values(children).map(([, c]) => c.ro_uri);
    const singles: Measured[] = [];
    for (const cap of caps.slice(0, SINGLE_CHECKS)) singles.push(await cairn(['check', cap]));
    const single = meanOf(singles);
    console.log(
      `\ncheck of ${FILES} files:\n` +
        table(
          ['', 's', 'files/s', 'CPU s client', 'CPU s 10 servers', 'client RSS MB', 'others'],
          [
            row('deep-check (1 process)', deep, [fixed(FILES / deep.seconds, 0)]),
            row(`check, 1 process per file (mean of ${singles.length})`, single, [
              fixed(1 / single.seconds, 1),
            ]),
          ],
        ),
    );
    console.log(
      `  per file: deep-check ${fixed((1000 * deep.seconds) / FILES, 1)} ms and ${fixed((1000 * (deep.clientCpu + deep.serversCpu)) / FILES, 1)} CPU-ms; ` +
        `one cairn check process ${fixed(1000 * single.seconds, 0)} ms and ${fixed(1000 * (single.clientCpu + single.serversCpu), 0)} CPU-ms`,
    );

    // Verify beside get, repair beside upload: one file of SIZE bytes.
    const file = path.join(tmp, 'big.bin');
    const out = path.join(tmp, 'big.out');
    const digest = await makeFile(file, SIZE);
    const put1 = await cairn(['put', file], home('put-1'));
    const cap = put1.stdout.trim();
    const get1 = await cairn(['get', cap, out]);
    if ((await sha256File(out)) !== digest) throw new Error('the download differs from the upload');
    await fs.rm(out);
    const verify = await cairn(['check', '--verify', cap]);
    if (!/— healthy/.test(verify.stdout))
      throw new Error(`verify did not find the file healthy: ${verify.stdout}`);
    const get2 = await cairn(['get', cap, out]);
    await fs.rm(out);

    // Lose shares: delete every share file of the file from 6 of the 10 servers.
    const si = base32Encode(storageIndexOf(parseCapability(cap))!);
    let lost = 0;
    for (const dir of grid.serverDirs) {
      if (lost >= 6) break;
      const d = path.join(dir, 'storage', 'shares', si.slice(0, 2), si);
      const shares = await fs.readdir(d).catch(() => [] as string[]);
      if (shares.length === 0) continue;
      for (const s of shares) await fs.rm(path.join(d, s));
      lost += shares.length;
    }
    const hurt = await cairn(['check', '--json', cap], env, [1]);
    const found = (JSON.parse(hurt.stdout) as { distinctGoodShares: number }).distinctGoodShares;
    if (found !== 10 - lost) throw new Error(`after deleting ${lost} shares the check found ${found}`);
    const repair = await cairn(['check', '--repair', cap]);
    if (!/after repair, summary: 10 of 10 shares/.test(repair.stdout))
      throw new Error(`the repair did not bring back all 10 shares: ${repair.stdout}`);
    const put2 = await cairn(['put', file], home('put-2'));
    if (put2.stdout.trim() === cap) throw new Error('the second upload was deduplicated');

    const getS = (get1.seconds + get2.seconds) / 2;
    const putS = (put1.seconds + put2.seconds) / 2;
    const shareBytes = (SIZE * 10) / 3;
    console.log(
      `\nverify and repair of a ${SIZE / MiB} MiB file (${lost} of 10 shares deleted before the repair):\n` +
        table(
          ['', 's', 'MB/s', 'share MB/s', 'CPU s client', 'CPU s 10 servers', 'client RSS MB', 'others'],
          [
            row('get (before)', get1, [fixed(mbs(SIZE, get1.seconds)), fixed(mbs(SIZE, get1.seconds))]),
            row('check --verify', verify, [
              fixed(mbs(SIZE, verify.seconds)),
              fixed(mbs(shareBytes, verify.seconds)),
            ]),
            row('get (after)', get2, [fixed(mbs(SIZE, get2.seconds)), fixed(mbs(SIZE, get2.seconds))]),
            row('put (before)', put1, [fixed(mbs(SIZE, put1.seconds)), fixed(mbs(shareBytes, put1.seconds))]),
            row(`check --repair (${lost} shares)`, repair, [
              fixed(mbs(SIZE, repair.seconds)),
              fixed(mbs((SIZE * lost) / 3, repair.seconds)),
            ]),
            row('put (after)', put2, [fixed(mbs(SIZE, put2.seconds)), fixed(mbs(shareBytes, put2.seconds))]),
          ],
        ),
    );
    const verifyRatio = getS / verify.seconds;
    const repairRatio = repair.seconds / putS;
    const cpuOf = (m: Measured) => m.clientCpu + m.serversCpu;
    console.log(
      `  CPU-s (client + servers): verify ${fixed(cpuOf(verify))} vs get ${fixed((cpuOf(get1) + cpuOf(get2)) / 2)}; ` +
        `repair ${fixed(cpuOf(repair))} vs put ${fixed((cpuOf(put1) + cpuOf(put2)) / 2)}`,
    );
    console.log(
      '\ngoals, this run:\n' +
        `  verify at ${fixed(verifyRatio, 2)}x the get's MB/s (mean of the two gets, ${fixed(mbs(SIZE, getS))} MB/s; goal >= 0.8x): ${met(verifyRatio >= 0.8)}\n` +
        `  repair in ${fixed(repairRatio, 2)}x the upload's time (${fixed(repair.seconds, 2)} s vs the puts' mean ${fixed(putS, 2)} s; goal <= 1.2x): ${met(repairRatio <= 1.2)}`,
    );
  } finally {
    await grid?.stop();
    if (!args.includes('--keep')) await fs.rm(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

await main();
