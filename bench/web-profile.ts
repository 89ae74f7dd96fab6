/**
 * Where bench:web's time goes: CPU seconds per process (Chromium's by type, and the grid's
 * relay + servers) over a phase, and with --profile a V8 CPU profile of every worker the
 * page starts and of the service worker, summarised as self time by function. Profiling
 * slows the phase it measures: use those runs for the breakdown, not the MB/s. With
 * BENCH_PROFILE_DIR set (the folder must exist), each profile is also written there whole
 * (DevTools opens it); BENCH_PROFILE_US sets the sampling interval.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cdp } from './web-cdp.ts';
import { cpuOf, procCpu, threadCpu } from './proc.ts';

/** `root` and every process below it. */
export function processTree(root: number): number[] {
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
  return out;
}

export type CpuSample = Map<string, number>;

/** CPU seconds so far by Chromium process type (per pid) and for the grid's process tree. */
export async function sampleCpu(cdp: Cdp, gridPid: number): Promise<CpuSample> {
  const info = await cdp.send<{ processInfo: { type: string; id: number; cpuTime: number }[] }>(
    'SystemInfo.getProcessInfo',
  );
  const out: CpuSample = new Map();
  for (const p of info.processInfo) out.set(`${p.type}:${p.id}`, procCpu(p.id) ?? p.cpuTime);
  out.set('grid', cpuOf(processTree(gridPid)));
  return out;
}

export type ThreadSample = Map<string, number>;

/**
 * The profiler's sampling interval, µs (BENCH_PROFILE_US, default 200). Its sampler thread
 * costs ~2 CPU-s a 64 MiB phase at 200 µs on these 2 cores, which skews what it charges to
 * whom; a longer interval costs less for coarser figures.
 */
const SAMPLE_US = Number(process.env.BENCH_PROFILE_US ?? 200);

/** Each web worker's thread apart (the grid worker and the segment workers). */
const WORKER_THREADS: ReadonlySet<string> = new Set(['DedicatedWorker']);

/** CPU seconds so far of every Chromium process's threads, keyed "renderer/Compositor". */
export async function sampleThreads(cdp: Cdp): Promise<ThreadSample> {
  const info = await cdp.send<{ processInfo: { type: string; id: number }[] }>('SystemInfo.getProcessInfo');
  const out: ThreadSample = new Map();
  for (const p of info.processInfo) {
    for (const [name, s] of threadCpu(p.id, WORKER_THREADS)) {
      const key = `${p.type}/${name}`;
      out.set(key, (out.get(key) ?? 0) + s);
    }
  }
  return out;
}

/** "renderer/ThreadPoolForeg 1.2 s, renderer/DedicatedWorker 0.9 s, ..." between two samples, largest first. */
export function threadDelta(a: ThreadSample, b: ThreadSample): string {
  return [...b]
    .map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const)
    .filter(([, s]) => s >= 0.05)
    .sort((x, y) => y[1] - x[1])
    .map(([k, s]) => `${k} ${s.toFixed(2)} s`)
    .join(', ');
}

/** "renderer 3.1 s, browser 0.8 s, utility 1.2 s, grid 2.0 s" between two samples. */
export function cpuDelta(a: CpuSample, b: CpuSample): string {
  const byType = new Map<string, number>();
  for (const [k, v] of b) {
    const type = k.split(':')[0];
    byType.set(type, (byType.get(type) ?? 0) + v - (a.get(k) ?? 0));
  }
  return [...byType]
    .filter(([, s]) => s >= 0.05)
    .map(([t, s]) => `${t} ${s.toFixed(1)} s`)
    .join(', ');
}

/** CPU seconds of every Chromium process together between two samples (the grid left out). */
export function chromiumCpuSeconds(a: CpuSample, b: CpuSample): number {
  let sum = 0;
  for (const [k, v] of b) if (k !== 'grid') sum += v - (a.get(k) ?? 0);
  return sum;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The top `n` functions by self time, and the share of idle, GC and program time. */
export function summarise(profile: Profile, n = 14): string {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += dt;
    const f = node.callFrame;
    const file = f.url.split('/').pop() ?? '';
    const key = f.url ? `${f.functionName || '(anon)'} ${file}:${f.lineNumber + 1}` : f.functionName;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  const lines = [
    `    wall ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (GC ${((self.get('(garbage collector)') ?? 0) / 1e6).toFixed(2)} s, program ${((self.get('(program)') ?? 0) / 1e6).toFixed(2)} s)`,
  ];
  for (const [k, v] of [...self]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)) {
    lines.push(
      `    ${((100 * v) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${(v / 1e3).toFixed(0).padStart(6)} ms  ${k}`,
    );
  }
  return lines.join('\n');
}

/**
 * Profiles the page's workers and the service worker: attach once (before the phases), then
 * start() / stop() around each phase. Workers started later are attached as they appear.
 */
export class WorkerProfiler {
  readonly #sessions = new Map<string, string>(); // sessionId -> label
  #running = false;

  private constructor(readonly cdp: Cdp) {}

  static async attach(cdp: Cdp, pageSession: string): Promise<WorkerProfiler> {
    const p = new WorkerProfiler(cdp);
    cdp.on((method, params) => {
      if (method !== 'Target.attachedToTarget') return;
      const info = params.targetInfo as { type: string; title: string; url: string };
      const sessionId = String(params.sessionId);
      const label = `${info.type} ${info.title || info.url.split('/').pop()}`;
      p.#sessions.set(sessionId, label);
      void (async () => {
        await cdp.send('Profiler.enable', {}, sessionId);
        await cdp.send('Profiler.setSamplingInterval', { interval: SAMPLE_US }, sessionId);
        if (p.#running) await cdp.send('Profiler.start', {}, sessionId);
        // Workers the worker starts (segment workers) are attached too.
        if (info.type === 'worker')
          await cdp.send(
            'Target.setAutoAttach',
            { autoAttach: true, waitForDebuggerOnStart: true, flatten: true },
            sessionId,
          );
        await cdp.send('Runtime.runIfWaitingForDebugger', {}, sessionId);
      })().catch(() => {});
    });
    await cdp.send(
      'Target.setAutoAttach',
      { autoAttach: true, waitForDebuggerOnStart: true, flatten: true },
      pageSession,
    );
    const { targetInfos } = await cdp.send<{ targetInfos: { targetId: string; type: string }[] }>(
      'Target.getTargets',
    );
    for (const t of targetInfos.filter((t) => t.type === 'service_worker')) {
      await cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: true });
    }
    return p;
  }

  async start(): Promise<void> {
    this.#running = true;
    await Promise.all(
      [...this.#sessions.keys()].map((s) => this.cdp.send('Profiler.start', {}, s).catch(() => {})),
    );
  }

  async stop(): Promise<string> {
    this.#running = false;
    const out: string[] = [];
    for (const [s, label] of this.#sessions) {
      try {
        const { profile } = await this.cdp.send<{ profile: Profile }>('Profiler.stop', {}, s);
        if (profile.samples.length > 10) out.push(`  ${label}\n${summarise(profile)}`);
        // BENCH_PROFILE_DIR keeps each profile whole (.cpuprofile, for DevTools) to see callers.
        const dir = process.env.BENCH_PROFILE_DIR;
        if (dir && profile.samples.length > 10)
          await writeFile(
            path.join(
              dir,
              `${label.replace(/[^\w-]+/g, '_').slice(0, 40)}-${s.slice(0, 8)}-${Date.now()}.cpuprofile`,
            ),
            JSON.stringify(profile),
          );
      } catch {
        // the worker ended
      }
    }
    return out.join('\n');
  }
}
