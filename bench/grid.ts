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
 * seconds are printed divided by it (issue #16's goal: at most 2x).
 *
 * --split: once the table is done, the headline size is put and got again with the relay and
 * the servers pinned to one core and the client to the other (taskset), so the client runs as
 * it would with the servers on other machines; its MB/s is printed beside the unsplit run's.
 *
 * Options: --sizes 256,64,1024 (MiB; the first is the headline), --split, --keep (leave the
 * temp dir).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureFloor } from './floor.ts';
import { nodePrimitivesBound } from './primitives.ts';
import { cpuOf, peakBytes, resetPeak } from './proc.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cairnBin = path.join(repoRoot, 'cli/bin/cairn.js');
const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const sizesArg = args.indexOf('--sizes');
const sizes = (sizesArg >= 0 ? args[sizesArg + 1] : '256,64,1024').split(',').map((s) => Number(s) * MiB);

interface Measured {
  seconds: number;
  /** Peak RSS of the CLI process, bytes (GNU time %M). */
  clientPeak: number;
  /** Peak RSS of one storage server during the run, bytes (VmHWM after clear_refs). */
  serverPeak: number;
  /** CPU seconds (user + system) of the CLI process. */
  clientCpu: number;
  /** CPU seconds of all storage servers together during the run. */
  serversCpu: number;
  /** Share of the machine's CPU time that went to other processes (0..1): contention. */
  others: number;
  stdout: string;
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + f[4];
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** Runs the CLI under /usr/bin/time; resets and reads one server's peak RSS around it. */
async function timedCairn(
  cliArgs: string[],
  env: NodeJS.ProcessEnv,
  servers: number[],
  cpus?: string,
): Promise<Measured> {
  const serverPid = servers[0];
  resetPeak(serverPid);
  const serversBefore = cpuOf(servers);
  const machineBefore = machineCpu();
  const started = performance.now();
  const timed = ['/usr/bin/time', '-f', 'maxrss_kb=%M cpu_s=%U+%S', process.execPath, cairnBin, ...cliArgs];
  const argv = cpus ? ['taskset', '-c', cpus, ...timed] : timed;
  const child = spawn(argv[0], argv.slice(1), {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`cairn ${cliArgs[0]} failed (${code}):\n${stderr}`);
  const m = /maxrss_kb=(\d+) cpu_s=([\d.]+)\+([\d.]+)/.exec(stderr);
  const clientCpu = Number(m?.[2] ?? 0) + Number(m?.[3] ?? 0);
  const serversCpu = cpuOf(servers) - serversBefore;
  const machineAfter = machineCpu();
  const busy = machineAfter.busy - machineBefore.busy;
  const total = machineAfter.total - machineBefore.total;
  const others = total > 0 ? Math.max(0, busy - clientCpu - serversCpu) / total : 0;
  return {
    seconds,
    clientPeak: Number(m?.[1] ?? 0) * 1024,
    serverPeak: peakBytes(serverPid),
    clientCpu,
    serversCpu,
    others,
    stdout,
  };
}

async function makeFile(file: string, size: number): Promise<string> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(4 * MiB);
  for (let done = 0; done < size; done += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - done));
    randomFillSync(part);
    hash.update(part);
    if (!out.write(part)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  return hash.digest('hex');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Starts `cairn grid` and returns its relay URL and the storage servers' pids. */
async function startGrid(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; url: string; servers: number[] }> {
  const child = spawn(process.execPath, [cairnBin, 'grid', '--servers', '10', '--dir', dir, '--port', '0'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`cairn grid did not start:\n${out}`));
    }, 120_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /announced to the relay at (http:\/\/\S+)/.exec(out);
      if (m && /Cairn is running/.test(out)) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`cairn grid exited (${code}):\n${out}`)));
  });
  // Children of `cairn grid` are the storage servers (announced with --relay) and tsx's esbuild service.
  const servers = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number)
    .filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--relay'));
  if (servers.length !== 10) {
    child.kill('SIGTERM'); // it stops its servers
    throw new Error(`expected 10 storage server processes, found ${servers.length}`);
  }
  return { child, url, servers };
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
const rate = (size: number, s: number) => (size / 1e6 / s).toFixed(1);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

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
  grid: { child: ChildProcess; url: string; servers: number[] },
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
    const put = await timedCairn(['put', file, '--grid', grid.url], env, grid.servers, '1');
    const outFile = path.join(tmp, 'out-split.bin');
    const get = await timedCairn(
      ['get', put.stdout.trim(), outFile, '--grid', grid.url],
      env,
      grid.servers,
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
    grid.child.kill('SIGTERM');
    await new Promise((r) => grid.child.once('exit', r));
    if (!args.includes('--keep')) await fs.rm(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

await main();
