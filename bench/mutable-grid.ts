/**
 * Shared by bench/mutable.ts and bench/mutable-browser.ts: a local grid (`cairn grid`: the
 * relay, which also serves the web app, and 10 storage server processes on 127.0.0.1), CPU
 * seconds of its processes, random files, median phases and the table printer.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuOf, procCpu } from './proc.ts';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const MiB = 1024 * 1024;

export interface LocalGrid {
  child: ChildProcess;
  /** The relay (grid list, web app): http://127.0.0.1:PORT */
  url: string;
  /** pids of the 10 storage servers. */
  servers: number[];
  /** CPU seconds so far of the relay process and of the servers. */
  cpu(): { relay: number; servers: number };
  stop(): Promise<void>;
}

/** Starts `cairn grid --servers 10` in `dir` (its CLI home under `home`). */
export async function startGrid(dir: string, home: string): Promise<LocalGrid> {
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'cli/bin/cairn.js'), 'grid', '--servers', '10', '--dir', dir, '--port', '0'],
    { cwd: repoRoot, env: { ...process.env, CAIRN_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`cairn grid did not start:\n${out}`));
    }, 120_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Cairn is running: open (http:\/\/\S+?)\/?\s/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`cairn grid exited (${code}):\n${out}`)));
  });
  const pid = child.pid!;
  // Children of `cairn grid` are the storage servers (started with --relay) and tsx's esbuild service.
  const servers = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number)
    .filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('--relay'));
  if (servers.length !== 10) {
    child.kill('SIGTERM');
    throw new Error(`expected 10 storage server processes, found ${servers.length}`);
  }
  const others = () => descendants(pid).filter((p) => !servers.includes(p));
  return {
    child,
    url,
    servers,
    cpu: () => ({ relay: cpuOf(others()), servers: cpuOf(servers) }),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM'); // it stops its servers
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** `root` and every process below it that is not a storage server's own child. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out.filter((p) => procCpu(p) !== undefined);
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - f[3] - f[4]) / 100, total: total / 100 };
}

/** One measured phase: wall seconds and CPU seconds of client, relay and servers. */
export interface Phase {
  seconds: number;
  client: number;
  relay: number;
  servers: number;
  /** Share of the machine's CPU taken by other processes meanwhile (0..1). */
  others: number;
  /** Client CPU seconds by process (Chromium: renderer, browser, utility). */
  detail?: string;
  /** Peak resident memory during the phase, bytes: Node's process; Chromium's renderer (the tab and its workers). */
  peak: number;
}

/** The median phase of several runs, by wall clock (CPU figures of that same run). */
export function medianPhase(runs: Phase[]): Phase {
  const s = [...runs].sort((a, b) => a.seconds - b.seconds);
  return s[(s.length - 1) >> 1];
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export type Kind = 'mdmf-publish' | 'mdmf-retrieve' | 'chk-upload' | 'chk-download';
export const KINDS: Kind[] = ['mdmf-publish', 'mdmf-retrieve', 'chk-upload', 'chk-download'];

/** Per size, the median phase of each kind, plus the key generations inside the publishes (ms). */
export interface SizeFigures {
  size: number;
  reps: number;
  phases: Record<Kind, Phase>;
  keygenInPublishMs: number[];
}

export interface RuntimeFigures {
  runtime: string;
  /** What ran the phases. */
  path: string;
  keygenMs: number[];
  sizes: SizeFigures[];
  /** How the CPU figures treat the key generation. */
  cpuNote: string;
}

export const fmtSize = (size: number) =>
  size % MiB === 0 ? `${size / MiB} MiB` : `${(size / MiB).toFixed(2)} MiB`;
export const mbs = (size: number, p: Phase) => size / 1e6 / p.seconds;
export const oneLine = (size: number, p: Record<Kind, Phase>) =>
  `MDMF publish ${mbs(size, p['mdmf-publish']).toFixed(1)} / retrieve ${mbs(size, p['mdmf-retrieve']).toFixed(1)} MB/s, ` +
  `CHK upload ${mbs(size, p['chk-upload']).toFixed(1)} / download ${mbs(size, p['chk-download']).toFixed(1)} MB/s`;
