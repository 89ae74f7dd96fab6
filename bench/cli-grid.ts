/**
 * What the CLI benches share: `cairn grid` started as a process (relay + 10 storage server
 * processes on 127.0.0.1), the CLI run under /usr/bin/time with the servers' CPU and the
 * machine's load read from /proc around it, random files of a given size, and stopping every
 * process the bench started on the way out, also on Ctrl-C or SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuOf, peakBytes, resetPeak } from './proc.ts';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const cairnBin = path.join(repoRoot, 'cli/bin/cairn.js');
export const MiB = 1024 * 1024;

/** Stoppers of what the bench started and has not stopped yet; run on exit and on signals. */
const stoppers = new Set<() => void>();

/** Runs `stop` if the bench is interrupted before it calls the returned function itself. */
export function onInterrupt(stop: () => void): () => void {
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const stop of stoppers) stop();
    process.exit(130);
  });
}
process.once('exit', () => {
  for (const stop of stoppers) stop();
});

export interface Measured {
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
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + f[4];
  return { busy: (total - idle) / 100, total: total / 100 };
}

/**
 * Runs the CLI under /usr/bin/time; resets and reads one server's peak RSS around it. Fails
 * unless the exit code is one of `okCodes` (default 0).
 */
export async function timedCairn(
  cliArgs: string[],
  env: NodeJS.ProcessEnv,
  servers: number[],
  okCodes: number[] = [0],
  /** Run the CLI on these CPUs only (taskset -c), e.g. '1'. */
  cpus?: string,
): Promise<Measured> {
  const serverPid = servers[0];
  if (serverPid !== undefined) resetPeak(serverPid);
  const serversBefore = cpuOf(servers);
  const machineBefore = machineCpu();
  const started = performance.now();
  const timed = ['/usr/bin/time', '-f', 'maxrss_kb=%M cpu_s=%U+%S', process.execPath, cairnBin, ...cliArgs];
  const argv = cpus ? ['taskset', '-c', cpus, ...timed] : timed;
  const child = spawn(argv[0], argv.slice(1), { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const forget = onInterrupt(() => child.kill('SIGTERM'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  forget();
  const seconds = (performance.now() - started) / 1000;
  if (!okCodes.includes(code ?? -1)) throw new Error(`cairn ${cliArgs[0]} failed (${code}):\n${stderr}`);
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
    serverPeak: serverPid !== undefined ? peakBytes(serverPid) : 0,
    clientCpu,
    serversCpu,
    others,
    code,
    stdout,
    stderr: stderr.replace(/maxrss_kb=.*\n?$/, ''),
  };
}

/** Writes `size` random bytes to `file`; returns their SHA-256 (hex). */
export async function makeFile(file: string, size: number): Promise<string> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(Math.min(4 * MiB, Math.max(1, size)));
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

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface CliGrid {
  child: ChildProcess;
  /** The relay's URL (what --grid takes). */
  url: string;
  /** Pids of the 10 storage server processes. */
  servers: number[];
  /** Where each server keeps its data (DIR/servers/server-NN), in server order. */
  serverDirs: string[];
  stop(): Promise<void>;
}

/**
 * Starts `cairn grid --servers 10` in `dir`; `stop()` (or an interrupt) ends it, and it
 * stops its servers (they also exit when its stdin closes, should it die).
 */
export async function startGrid(dir: string, env: NodeJS.ProcessEnv): Promise<CliGrid> {
  const child = spawn(process.execPath, [cairnBin, 'grid', '--servers', '10', '--dir', dir, '--port', '0'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const forget = onInterrupt(() => child.kill('SIGTERM'));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    forget();
  };
  let out = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cairn grid did not start:\n${out}`)), 120_000);
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
    const servers: { pid: number; dir: string }[] = [];
    for (const pid of readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number)) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes('--relay')) servers.push({ pid, dir: argv[argv.indexOf('--dir') + 1] });
    }
    servers.sort((a, b) => (a.dir < b.dir ? -1 : 1));
    if (servers.length !== 10)
      throw new Error(`expected 10 storage server processes, found ${servers.length}`);
    return {
      child,
      url,
      servers: servers.map((s) => s.pid),
      serverDirs: servers.map((s) => s.dir),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Formatting helpers shared by the benches' tables. */
export const fixed = (x: number, digits = 1) => x.toFixed(digits);
export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/** Right-aligned columns under a header. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
