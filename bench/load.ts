/**
 * `npm run bench:load [-- --clients 50 --servers 10 --seconds 60 --procs 2 --seed N]`: a relay
 * and N real `cairn server` processes (the bundled entry on bare Node, as `cairn grid` runs
 * them) on 127.0.0.1, and C clients working them at once for S seconds. Each client is a
 * core/client Grid with its own connections, looping over a mix of operations:
 *   upload      an immutable file of a random size (1 KiB..4 MiB log-uniform; one in ten
 *               literal-sized, 0..55 B, which touches no server)
 *   reupload    one of its own files again: the same cap, the shares already in place
 *   download    a random file stored earlier, by any client, compared byte for byte
 *   mcreate     a new mutable file (MDMF, one in five SDMF; 16 B..256 KiB)
 *   moverwrite  a whole new version of one of its own mutable files
 *   mmodify     modify() of one of its own mutable files (an idempotent patch)
 *   mread       a mutable file of any client: its own must read back exactly what it wrote
 *               last; another's must be a version its owner published (or was publishing)
 * After the deadline, every file whose upload succeeded is read once more by a fresh client;
 * one that cannot be read back byte-equal is lost (`--lose N` deletes every share of N files
 * first, to see the check find them).
 *
 * The clients run in `--procs` worker processes (default 2, one per core of the development
 * machines), not in this one: one event loop running 50 clients' encryption, coding and
 * hashing would make every client's timers late, and the figures would measure that queue
 * more than the servers; fifty processes would cost fifty runtimes and time-slice with the
 * servers. Each worker reports its event-loop delay, so a saturated client side shows.
 *
 * Prints per-operation counts, errors by code (with sample messages), p50/p95 latency, files
 * verified, lost files, and RSS of the servers (sum, max), the relay and the client
 * processes at the start, every 10 s and at the end, with CPU seconds. Exits 1 if any
 * operation failed, any file was lost or a process died: it is a bench, not a test, but a
 * script can tell.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCapability, storageIndexOf } from '../core/caps/index.ts';
import { base32Encode } from '../core/primitives/base32.ts';
import { fetchGridServers } from '../core/protocol/grid.ts';
import {
  cleanup,
  type SpawnedRelay,
  type SpawnedServer,
  spawnRelay,
  spawnServer,
} from '../test/harness/grid.ts';
import {
  type FinalReport,
  type FromWorker,
  type ImmutableRecord,
  OPS,
  type ToWorker,
  type WorkerReport,
} from './load-types.ts';
import { procCpu, residentBytes } from './proc.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}
const CLIENTS = flag('clients', 50);
const SERVERS = flag('servers', 10);
const SECONDS = flag('seconds', 60);
const PROCS = Math.max(1, Math.min(CLIENTS, flag('procs', 2)));
const SEED = flag('seed', Date.now() % 1_000_000);
/** `--profile DIR`: V8 CPU profiles of the client processes, written to DIR. */
const PROFILE = args.includes('--profile') ? path.resolve(args[args.indexOf('--profile') + 1]) : null;
/** `--lose N`: delete every share of N stored files before the re-read (it must find them lost). */
const LOSE = flag('lose', 0);
/** How long operations begun before the deadline may take to finish. */
const DRAIN_MS = 120_000;

const MB = (b: number) => (b / 1e6).toFixed(0);

interface Worker {
  child: ChildProcess;
  report?: WorkerReport;
  final?: FinalReport;
}

async function main(): Promise<number> {
  console.log(
    `load bench: ${CLIENTS} clients in ${PROCS} processes, ${SERVERS} servers, ${SECONDS} s, seed ${SEED}; ` +
      `${os.cpus().length} cores`,
  );
  const deaths: string[] = [];
  const relay: SpawnedRelay = await spawnRelay();
  const servers: SpawnedServer[] = await Promise.all(
    Array.from({ length: SERVERS }, (_, i) =>
      spawnServer({ relayUrl: relay.url, nickname: `load-${i}`, bundled: true }),
    ),
  );
  const stopping = { now: false };
  for (const [i, s] of servers.entries()) {
    s.process.once('exit', (code, signal) => {
      if (!stopping.now) deaths.push(`server ${i} exited (${signal ?? code})`);
    });
  }
  relay.process.once('exit', (code, signal) => {
    if (!stopping.now) deaths.push(`the relay exited (${signal ?? code})`);
  });
  const deadline = Date.now() + 60_000;
  while ((await fetchGridServers(relay.url)).length < SERVERS) {
    if (Date.now() > deadline) throw new Error('the servers did not all announce themselves within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }

  const workers: Worker[] = [];
  const broadcast = (m: ToWorker, except?: Worker) => {
    for (const w of workers) if (w !== except && w.child.connected) w.child.send(m);
  };
  let ok = 0;
  let failed = 0;
  let files = 0;
  let bytesStored = 0;
  const immutableCaps: string[] = [];
  for (let p = 0; p < PROCS; p++) {
    const child = fork(path.join(here, 'load-worker.ts'), [], {
      execArgv: ['--import', 'tsx', ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(child);
    const w: Worker = { child };
    workers.push(w);
    child.on('message', (m: FromWorker) => {
      if (m.type === 'file') {
        files++;
        if (m.rec.kind === 'imm') {
          bytesStored += (m.rec as ImmutableRecord).size;
          immutableCaps.push(m.rec.cap);
        }
        broadcast(m, w);
      } else if (m.type === 'mver' || m.type === 'mdone') broadcast(m, w);
      else if (m.type === 'progress') {
        ok += m.ok;
        failed += m.err;
      } else if (m.type === 'done') w.report = m.report;
      else if (m.type === 'final-result') w.final = m.report;
    });
    child.once('exit', (code, signal) => {
      if (!w.final) deaths.push(`client process ${p} exited (${signal ?? code})`);
    });
  }
  await waitAll(workers, (w) => new Promise((r) => w.child.once('message', r)), 60_000, 'worker start');

  // ---- figures over time ----
  const serverPids = servers.map((s) => s.process.pid!);
  const workerPids = workers.map((w) => w.child.pid!);
  const cpu0 = {
    servers: serverPids.map((p) => procCpu(p) ?? 0),
    relay: procCpu(relay.process.pid!) ?? 0,
    clients: workerPids.map((p) => procCpu(p) ?? 0),
  };
  const t0 = Date.now();
  const rows: string[][] = [];
  const machine0 = machineCpu();
  let lastSample = { machine: machine0, ours: 0 };
  const sample = (label: string) => {
    const rss = serverPids.map(residentBytes);
    const cpu = (pids: number[], base: number[]) =>
      pids.reduce((s, p, i) => s + ((procCpu(p) ?? base[i]) - base[i]), 0);
    const ours =
      cpu(serverPids, cpu0.servers) +
      ((procCpu(relay.process.pid!) ?? cpu0.relay) - cpu0.relay) +
      cpu(workerPids, cpu0.clients);
    // How much of the machine other processes took since the last sample (contention).
    const m = machineCpu();
    const total = m.total - lastSample.machine.total;
    const others =
      total > 0 ? Math.max(0, m.busy - lastSample.machine.busy - (ours - lastSample.ours)) / total : 0;
    lastSample = { machine: m, ours };
    rows.push([
      label,
      String(ok),
      String(failed),
      String(files),
      MB(rss.reduce((a, b) => a + b, 0)),
      MB(Math.max(...rss)),
      MB(residentBytes(relay.process.pid!)),
      MB(workerPids.map(residentBytes).reduce((a, b) => a + b, 0)),
      cpu(serverPids, cpu0.servers).toFixed(0),
      ((procCpu(relay.process.pid!) ?? cpu0.relay) - cpu0.relay).toFixed(1),
      cpu(workerPids, cpu0.clients).toFixed(0),
      `${(others * 100).toFixed(0)}%`,
    ]);
    const r = rows[rows.length - 1];
    console.log(
      `${label.padStart(7)}: ${r[1]} ops ok, ${r[2]} failed, ${r[3]} files; servers RSS ${r[4]} MB (max ${r[5]}), relay ${r[6]} MB, clients ${r[7]} MB; others took ${r[11]} of the machine`,
    );
  };
  sample('start');
  for (const w of workers) {
    const i = workers.indexOf(w);
    const clients = Array.from({ length: CLIENTS }, (_, c) => c).filter((c) => c % PROCS === i);
    w.child.send({
      type: 'start',
      relayUrl: relay.url,
      clients,
      seed: SEED,
      seconds: SECONDS,
      drainMs: DRAIN_MS,
    } satisfies ToWorker);
  }
  const ticker = setInterval(() => sample(`${Math.round((Date.now() - t0) / 1000)} s`), 10_000);
  await waitAll(
    workers,
    (w) =>
      new Promise<void>((r) =>
        w.report ? r() : w.child.on('message', (m: FromWorker) => m.type === 'done' && r()),
      ),
    SECONDS * 1000 + DRAIN_MS + 30_000,
    'client loops to finish',
  );
  clearInterval(ticker);
  sample('load end');
  const loadSeconds = (Date.now() - t0) / 1000;

  if (LOSE > 0) {
    // A check of the check: these files' shares are deleted from every server, so the
    // re-read must report exactly them as lost.
    const victims = immutableCaps.filter((c) => c.startsWith('URI:CHK:')).slice(0, LOSE);
    for (const cap of victims) {
      const b = base32Encode(storageIndexOf(parseCapability(cap)) as Uint8Array);
      for (const s of servers) {
        await fs.rm(path.join(s.dir, 'storage', 'shares', b.slice(0, 2), b), {
          recursive: true,
          force: true,
        });
      }
    }
    console.log(`--lose ${LOSE}: deleted every share of ${victims.length} files`);
  }
  console.log(`re-reading every stored file (${files}) with a fresh client…`);
  const f0 = Date.now();
  for (const w of workers) w.child.send({ type: 'final' } satisfies ToWorker);
  await waitAll(
    workers,
    (w) =>
      new Promise<void>((r) =>
        w.final ? r() : w.child.on('message', (m: FromWorker) => m.type === 'final-result' && r()),
      ),
    600_000,
    'the final re-read',
  );
  sample('end');
  const finalSeconds = (Date.now() - f0) / 1000;

  // ---- report ----
  const reports = workers.map((w) => w.report!);
  const finals = workers.map((w) => w.final!);
  console.log(
    `\n${loadSeconds.toFixed(0)} s of load (deadline ${SECONDS} s + the last operations), re-read in ${finalSeconds.toFixed(0)} s\n`,
  );
  const opRows: string[][] = [];
  let totalErrors = 0;
  const errorLines: string[] = [];
  for (const op of OPS) {
    const all = reports.map((r) => r.ops[op]);
    const okN = all.reduce((s, o) => s + o.ok, 0);
    const errs: Record<string, number> = {};
    for (const o of all) for (const [c, n] of Object.entries(o.errors)) errs[c] = (errs[c] ?? 0) + n;
    const errN = Object.values(errs).reduce((a, b) => a + b, 0);
    totalErrors += errN;
    const lat = all.flatMap((o) => o.latencies).sort((a, b) => a - b);
    const bytes = all.reduce((s, o) => s + o.bytes, 0);
    opRows.push([
      op,
      String(okN),
      String(errN),
      Object.entries(errs)
        .map(([c, n]) => `${c} ${n}`)
        .join(', ') || '-',
      pct(lat, 50),
      pct(lat, 95),
      pct(lat, 100),
      MB(bytes),
      (bytes / 1e6 / loadSeconds).toFixed(1),
    ]);
    for (const c of Object.keys(errs)) {
      const msgs = new Set(reports.flatMap((r) => r.samples[`${op}:${c}`] ?? []));
      for (const m of [...msgs].slice(0, 5)) errorLines.push(`  ${op} ${c}: ${m}`);
    }
  }
  table(['op', 'ok', 'errors', 'errors by code', 'p50 ms', 'p95 ms', 'max ms', 'MB', 'MB/s'], opRows);
  if (errorLines.length) console.log(`\nerror samples:\n${errorLines.join('\n')}`);

  const verified = reports.reduce((s, r) => s + r.verified, 0);
  const unfinished = reports.reduce((s, r) => s + r.unfinished, 0);
  const checked = finals.reduce((s, f) => s + f.checked, 0);
  const lost = finals.flatMap((f) => f.lost);
  console.log(`\nfiles stored: ${files} (${MB(bytesStored)} MB immutable plaintext)`);
  console.log(`reads verified during the load: ${verified}`);
  console.log(`re-read at the end: ${checked}, lost: ${lost.length}`);
  for (const l of lost.slice(0, 20)) console.log(`  lost: ${l.what}: ${l.why}`);
  if (unfinished)
    console.log(`operations still running ${DRAIN_MS / 1000} s after the deadline: ${unfinished}`);
  console.log(
    `client event-loop delay per process (p50/p99/max ms): ${reports
      .map(
        (r) =>
          `${r.loopDelayMs.p50.toFixed(0)}/${r.loopDelayMs.p99.toFixed(0)}/${r.loopDelayMs.max.toFixed(0)}`,
      )
      .join(', ')}`,
  );
  console.log(
    '\nover time (ops and files cumulative; RSS now; CPU seconds since the start; others: share of the machine other processes took since the row before):',
  );
  table(
    [
      'at',
      'ops ok',
      'failed',
      'files',
      'servers RSS MB',
      'max server MB',
      'relay MB',
      'clients MB',
      'servers CPU s',
      'relay CPU s',
      'clients CPU s',
      'others',
    ],
    rows,
  );
  const internal = servers.flatMap((s, i) =>
    s
      .output()
      .split('\n')
      .filter((l) => /internal error|Error:|unhandled/i.test(l))
      .map((l) => `server ${i}: ${l}`),
  );
  if (internal.length)
    console.log(`\nserver log lines reporting internal errors:\n${internal.slice(0, 20).join('\n')}`);
  for (const d of deaths) console.log(`DIED: ${d}`);

  stopping.now = true;
  // Workers end when their channel closes (writing their profiles with --profile).
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
          const force = setTimeout(() => w.child.kill('SIGKILL'), 10_000);
          w.child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          w.child.disconnect();
        }),
    ),
  );
  const bad = totalErrors + lost.length + unfinished + deaths.length;
  console.log(
    `\n${bad === 0 ? 'OK' : 'FAILED'}: ${totalErrors} errors, ${lost.length} lost files, ${unfinished} unfinished operations, ${deaths.length} processes died`,
  );
  return bad === 0 ? 0 : 1;
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - f[3] - f[4]) / 100, total: total / 100 };
}

function pct(sorted: number[], p: number): string {
  if (sorted.length === 0) return '-';
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)].toFixed(0);
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

async function waitAll(
  workers: Worker[],
  each: (w: Worker) => Promise<unknown>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(workers.map(each)),
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)),
        timeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

const children = new Set<ChildProcess>();
function stopEverything(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  cleanup(); // SIGKILLs every server and relay the harness started, removes their folders
}
process.once('SIGINT', () => {
  stopEverything();
  process.exit(130);
});
process.once('SIGTERM', () => {
  stopEverything();
  process.exit(143);
});
process.once('exit', stopEverything);

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`load bench failed: ${(err as Error).stack ?? err}`);
} finally {
  stopEverything();
}
process.exit(code);
