/**
 * `npm run bench:grid`: `cairn put` and `cairn get` of a 256 MiB file through the 10 local
 * storage servers of `cairn grid` (separate processes on 127.0.0.1), (3,7,10), 128 KiB
 * segments. Prints MB/s (10^6 B of plaintext per second, wall clock of the CLI process,
 * node start-up included) and peak RSS of the client and of one server, then the same for
 * 64 MiB and 1 GiB to show that memory does not grow with the file.
 *
 * Baseline in the same run: `cairn debug chk-cap` on the same file, i.e. the CLI reading and
 * encoding it with no network at all (two passes, like put). The machine has 2 cores shared
 * by the client, 10 servers and the relay, and by whatever else runs: expect ±20% noise.
 *
 * Second baseline, the transport floor (bench/floor.ts): the same bytes moved by bare
 * processes over loopback TCP to 10 sinks that write them to disk, and back, with no crypto,
 * coding or protocol: what any put/get through 10 local servers pays on this machine.
 *
 * Also printed: CPU seconds of the client and of the 10 servers, and how much of the machine
 * other processes took meanwhile, so figures from a busy machine can be told apart.
 *
 * The primitives bound (bench/primitives.ts): the CPU seconds SHA-256, AES-CTR and RS alone
 * need for the same bytes, measured in this process in the same run; each client's CPU
 * seconds are printed divided by it (issue #16's goal: at most 2x), and divided by it plus
 * the floor client's CPU seconds: what the work needs beyond the bound (start Node, read the
 * file and send N/K of it over TCP; receive K/K and write the file), measured in the same run.
 *
 * --split: once the table is done, the headline size is put and got again with the relay and
 * the servers pinned to one core and the client to the other (taskset), so the client runs as
 * it would with the servers on other machines; its MB/s is printed beside the unsplit run's.
 *
 * Options: --sizes 256,64,1024 (MiB; the first is the headline), --split, --keep (leave the
 * temp dir).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type CliGrid,
  MiB,
  type Measured,
  makeFile,
  pct,
  sha256File,
  startGrid,
  timedCairn,
} from './cli-grid.ts';
import { measureFloor } from './floor.ts';
import { nodePrimitivesBound } from './primitives.ts';

const args = process.argv.slice(2);
const sizesArg = args.indexOf('--sizes');
const sizes = (sizesArg >= 0 ? args[sizesArg + 1] : '256,64,1024').split(',').map((s) => Number(s) * MiB);

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
const rate = (size: number, s: number) => (size / 1e6 / s).toFixed(1);

/** Pins a process and all its threads to the given CPUs. */
async function pin(pid: number, cpus: string): Promise<void> {
  const child = spawn('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  if (code !== 0) throw new Error(`taskset could not pin process ${pid} to CPUs ${cpus}`);
}

/** --split: the headline size again with the grid on CPU 0 and the client on CPU 1. */
async function splitRun(
  h: { put: Measured; get: Measured; size: number },
  env: NodeJS.ProcessEnv,
  grid: CliGrid,
  tmp: string,
): Promise<void> {
  if (os.cpus().length < 2) {
    console.log('\n--split needs 2 CPUs; skipped');
    return;
  }
  // Fresh bytes: the headline file's shares are on the servers already, so its put would send nothing.
  const size = h.size;
  const file = path.join(tmp, 'in-split.bin');
  const digest = await makeFile(file, size);
  const gridPids = [grid.child.pid as number, ...grid.servers];
  for (const pid of gridPids) await pin(pid, '0');
  try {
    const put = await timedCairn(['put', file, '--grid', grid.url], env, grid.servers, [0], '1');
    const outFile = path.join(tmp, 'out-split.bin');
    const get = await timedCairn(
      ['get', put.stdout.trim(), outFile, '--grid', grid.url],
      env,
      grid.servers,
      [0],
      '1',
    );
    if ((await sha256File(outFile)) !== digest) throw new Error('the split-run download differs');
    await fs.rm(outFile);
    console.log(
      `\n--split (relay and servers on CPU 0, client on CPU 1), ${size / MiB} MiB, byte-equal:\n` +
        `  put ${rate(size, put.seconds)} MB/s (unsplit ${rate(size, h.put.seconds)}), ` +
        `get ${rate(size, get.seconds)} MB/s (unsplit ${rate(size, h.get.seconds)}); ` +
        `client CPU s put/get ${put.clientCpu.toFixed(1)} / ${get.clientCpu.toFixed(1)}, ` +
        `servers ${put.serversCpu.toFixed(1)} / ${get.serversCpu.toFixed(1)}`,
    );
  } finally {
    const all = os
      .cpus()
      .map((_, i) => i)
      .join(',');
    for (const pid of gridPids) await pin(pid, all).catch(() => {});
    await fs.rm(file, { force: true });
  }
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-grid-'));
  const env = { ...process.env, CAIRN_HOME: path.join(tmp, 'home') };
  console.log(
    `grid bench: cairn put/get through 10 local servers, (3,7,10), 128 KiB segments; ${os.cpus().length} cores`,
  );
  console.log(
    'MB/s = 10^6 B of plaintext per second of CLI wall clock (start-up included); RSS = peak resident set\n',
  );
  const grid = await startGrid(path.join(tmp, 'grid'), env);
  try {
    const startup = await timedCairn(['--help'], env, grid.servers);
    console.log(
      `CLI start-up (cairn --help): ${startup.seconds.toFixed(2)} s, ${mb(startup.clientPeak)} MB RSS\n`,
    );
    const header = [
      'size MiB',
      'encode-only MB/s',
      'put MB/s',
      'get MB/s',
      'put/encode',
      'floor put/get MB/s',
      'put/floor get/floor',
      'floor CPU s put/get',
      'client RSS put/get MB',
      'server RSS put/get MB',
      'CPU s client put/get',
      'CPU s 10 servers put/get',
      'others put/get',
      'MB per CPU-s put/get',
      'client CPU / primitives put/get',
      'client CPU / (primitives + floor client) put/get',
    ];
    const primitiveNotes = new Set<string>();
    let headline: { put: Measured; get: Measured; size: number } | null = null;
    const rows: string[][] = [];
    for (const size of sizes) {
      const file = path.join(tmp, `in-${size}.bin`);
      const outFile = path.join(tmp, `out-${size}.bin`);
      const digest = await makeFile(file, size);
      const base = await timedCairn(
        ['debug', 'chk-cap', '--convergence', 'YmVuY2g=', file],
        env,
        grid.servers,
      );
      const put = await timedCairn(['put', file, '--grid', grid.url], env, grid.servers);
      const cap = put.stdout.trim();
      const get = await timedCairn(['get', cap, outFile, '--grid', grid.url], env, grid.servers);
      const ok = (await sha256File(outFile)) === digest;
      if (!ok) throw new Error(`the ${size / MiB} MiB download differs from the upload`);
      await fs.rm(outFile);
      const floor = await measureFloor(file, size, path.join(tmp, 'floor'));
      const upBound = await nodePrimitivesBound({ size, k: 3, n: 10, direction: 'upload' });
      const downBound = await nodePrimitivesBound({ size, k: 3, n: 10, direction: 'download' });
      primitiveNotes.add(`upload: ${upBound.note}`);
      primitiveNotes.add(`download: ${downBound.note}`);
      rows.push([
        String(size / MiB),
        rate(size, base.seconds),
        rate(size, put.seconds),
        rate(size, get.seconds),
        (base.seconds / put.seconds).toFixed(2),
        `${rate(size, floor.putSeconds)} / ${rate(size, floor.getSeconds)}`,
        `${(floor.putSeconds / put.seconds).toFixed(2)} / ${(floor.getSeconds / get.seconds).toFixed(2)}`,
        `${(floor.putCpu.client + floor.putCpu.sinks).toFixed(1)} / ${(floor.getCpu.client + floor.getCpu.sinks).toFixed(1)}`,
        `${mb(put.clientPeak)} / ${mb(get.clientPeak)}`,
        `${mb(put.serverPeak)} / ${mb(get.serverPeak)}`,
        `${put.clientCpu.toFixed(1)} / ${get.clientCpu.toFixed(1)}`,
        `${put.serversCpu.toFixed(1)} / ${get.serversCpu.toFixed(1)}`,
        `${pct(put.others)} / ${pct(get.others)}`,
        `${rate(size, put.clientCpu + put.serversCpu)} / ${rate(size, get.clientCpu + get.serversCpu)}`,
        `${(put.clientCpu / upBound.total).toFixed(2)} (${upBound.total.toFixed(2)} s) / ` +
          `${(get.clientCpu / downBound.total).toFixed(2)} (${downBound.total.toFixed(2)} s)`,
        `${(put.clientCpu / (upBound.total + floor.putCpu.client)).toFixed(2)} (${floor.putCpu.client.toFixed(2)} s) / ` +
          `${(get.clientCpu / (downBound.total + floor.getCpu.client)).toFixed(2)} (${floor.getCpu.client.toFixed(2)} s)`,
      ]);
      headline ??= { put, get, size };
      await fs.rm(file);
      console.log(
        `${size / MiB} MiB: put ${rate(size, put.seconds)} MB/s, get ${rate(size, get.seconds)} MB/s, byte-equal`,
      );
    }
    console.log('');
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    console.log(`\nprimitives bound (same run): ${[...primitiveNotes].join('; ')}`);
    console.log(
      'goals: client CPU at most 2x the primitives bound (issue #16); client peak RSS < 200 MB at 1 GiB',
    );
    if (headline && args.includes('--split')) await splitRun(headline, env, grid, tmp);
  } finally {
    await grid.stop();
    if (!args.includes('--keep')) await fs.rm(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

await main();
