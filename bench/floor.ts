/**
 * The transport floor of bench:grid: what moving the same bytes costs on this machine with
 * no crypto, no erasure coding and no protocol. A client process reads the file once and
 * sends N/K of its size over loopback TCP to N sink processes that write their part to disk
 * (positioned writes, fsync), as a put must; then K sinks send their parts back and the
 * client writes them to a file, as a get must. Any put or get through N local servers on
 * this machine pays at least this, so it bounds what bench:grid can show.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuOf } from './proc.ts';

const here = fileURLToPath(new URL('./floor/', import.meta.url));

export interface FloorFigures {
  putSeconds: number;
  getSeconds: number;
  /** CPU seconds (user + system) of the client and of the sinks together, per phase. */
  putCpu: { client: number; sinks: number };
  getCpu: { client: number; sinks: number };
}

async function startSink(dir: string): Promise<{ child: ChildProcess; port: number }> {
  await fs.mkdir(dir, { recursive: true });
  const child = spawn(process.execPath, [path.join(here, 'sink.mjs'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`floor sink exited (${code})`)));
  });
  return { child, port };
}

async function runClient(args: string[]): Promise<{ seconds: number; cpu: number }> {
  const started = performance.now();
  const child = spawn(
    '/usr/bin/time',
    ['-f', 'cpu_s=%U+%S', process.execPath, path.join(here, 'client.mjs'), ...args],
    { stdio: ['ignore', 'inherit', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('close', r));
  if (code !== 0) throw new Error(`floor client ${args[0]} failed (${code}):\n${stderr}`);
  const m = /cpu_s=([\d.]+)\+([\d.]+)/.exec(stderr);
  return { seconds: (performance.now() - started) / 1000, cpu: Number(m?.[1] ?? 0) + Number(m?.[2] ?? 0) };
}

export async function measureFloor(
  file: string,
  size: number,
  dir: string,
  k = 3,
  n = 10,
): Promise<FloorFigures> {
  const sinks = await Promise.all(
    Array.from({ length: n }, (_, i) => startSink(path.join(dir, `sink-${i}`))),
  );
  try {
    const ports = sinks.map((s) => String(s.port));
    const pids = sinks.map((s) => s.child.pid as number);
    const before = cpuOf(pids);
    const put = await runClient(['put', file, String(k), ...ports]);
    const middle = cpuOf(pids);
    const out = path.join(dir, 'out.bin');
    // The client checks that it received `size` bytes.
    const get = await runClient(['get', file, out, String(size), String(k), ...ports]);
    return {
      putSeconds: put.seconds,
      getSeconds: get.seconds,
      putCpu: { client: put.cpu, sinks: middle - before },
      getCpu: { client: get.cpu, sinks: cpuOf(pids) - middle },
    };
  } finally {
    for (const s of sinks) s.child.kill('SIGTERM');
    await fs.rm(dir, { recursive: true, force: true });
  }
}
