/**
 * Where Chromium's CHK encode time goes, thread by thread: runs the bench page's encode
 * (random key) under a Chrome trace and prints, per renderer thread, the wall time spent
 * in tasks and in WebCrypto's own work (DoEncrypt / DoDigest; in Chromium 156 they show
 * up on the calling worker's own thread, so WebCrypto spreads as far as the workers do).
 * Tracing slows the run: read the shares, not the MB/s.
 *
 * With --profile, V8 CPU profiles of the page and its workers instead (top functions by self time).
 *
 *   npx tsx bench/chk-trace.ts [--workers 2] [--streamed] [--depth D] [--size MiB] [--no-trace] [--profile]
 */
import { chromiumCpuReader, withChkPage } from './chk-browser.ts';
import type { ChkBenchSetup } from './chk-measure.ts';
import { Cdp } from './web-cdp.ts';
import { summarise as summariseProfile, WorkerProfiler } from './web-profile.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const MiB = 1024 * 1024;
const setup: ChkBenchSetup = {
  size: opt('--size', 64) * MiB,
  params: { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 },
  reps: opt('--reps', 2),
};
const workers = opt('--workers', 2);
const depthArg = opt('--depth', 0);
const depth = depthArg > 0 ? depthArg : undefined;
const oneShot: boolean | 'none' = args.includes('--no-file-hash') ? 'none' : !args.includes('--streamed');
const profile = args.includes('--profile');
const trace =
  !profile &&
  !args.includes('--no-trace') &&
  !args.includes('--worker-loop') &&
  !args.includes('--crypto-sizes');
const PORT = 9400 + (process.pid % 500);

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  args?: { name?: string };
}

type EncodeWindow = {
  runChkEncode(s: ChkBenchSetup, w: number, o: boolean | 'none', d?: number): Promise<number[]>;
};

let pageSession = '';
await withChkPage(
  async (page, browser) => {
    if (trace) {
      await browser.startTracing(page, {
        categories: ['toplevel', 'disabled-by-default-devtools.timeline', 'v8', 'blink'],
      });
    }
    let profiler: WorkerProfiler | undefined;
    let cdp: Cdp | undefined;
    if (profile) {
      const version = (await (await fetch(`http://127.0.0.1:${PORT}/json/version`)).json()) as {
        webSocketDebuggerUrl: string;
      };
      cdp = await Cdp.connect(version.webSocketDebuggerUrl);
      const { targetInfos } = await cdp.send<{
        targetInfos: { targetId: string; type: string; url: string }[];
      }>('Target.getTargets');
      const target = targetInfos.find((t) => t.type === 'page' && t.url.includes('index.html'));
      const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', {
        targetId: target?.targetId,
        flatten: true,
      });
      await cdp.send('Profiler.enable', {}, sessionId);
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 }, sessionId);
      profiler = await WorkerProfiler.attach(cdp, sessionId);
      await profiler.start();
      await cdp.send('Profiler.start', {}, sessionId);
      pageSession = sessionId;
    }
    if (args.includes('--crypto-sizes')) {
      const sizes = [4096, 16384, 32768, 44000, 65536, 131072, 262144];
      for (const op of ['aes', 'sha'] as const) {
        const r = await page.evaluate(
          ([o, z]) =>
            (
              globalThis as unknown as {
                runCryptoLoad(o: string, z: number[]): Promise<Record<number, number>>;
              }
            ).runCryptoLoad(o, z),
          [op, sizes] as const,
        );
        console.log(
          `${op} MB/s by call size (1 worker, 8 in flight): ${sizes.map((z) => `${z}: ${r[z].toFixed(0)}`).join(', ')}`,
        );
      }
      return;
    }
    if (args.includes('--worker-loop')) {
      for (const d of [1, 2, 4, 8]) {
        const r = await page.evaluate(
          ([w, dd]) =>
            (
              globalThis as unknown as { runWorkerLoop(w: number, d: number, c: number): Promise<number[]> }
            ).runWorkerLoop(w, dd, 1024),
          [workers, d] as const,
        );
        console.log(
          `segments encoded inside workers, depth ${d}: 1 worker ${r[0].toFixed(0)} MB/s, ${workers} workers ${r[1].toFixed(0)} MB/s`,
        );
      }
      return;
    }
    const chromiumCpu = await chromiumCpuReader(browser);
    const cpu0 = await chromiumCpu();
    const t0 = Date.now();
    const rates = await page.evaluate(
      ([s, w, o, d]) => (globalThis as unknown as EncodeWindow).runChkEncode(s, w, o, d ?? undefined),
      [setup, workers, oneShot, depth ?? null] as const,
    );
    const wall = (Date.now() - t0) / 1000;
    const cpu1 = await chromiumCpu();
    const cpu = [...cpu1.values()].reduce((a, b) => a + b, 0) - [...cpu0.values()].reduce((a, b) => a + b, 0);
    const byType = [...cpu1].map(([t, v]) => `${t} ${(v - (cpu0.get(t) ?? 0)).toFixed(1)}`).join(', ');
    console.log(
      `${workers} workers, ${oneShot === 'none' ? 'no' : oneShot ? 'one-shot' : 'streamed'} file hash, depth ${depth ?? 'default'}: ` +
        `${rates.map((r) => r.toFixed(0)).join(', ')} MB/s (warm-up + ${setup.reps} runs in ${wall.toFixed(1)} s, Chromium CPU ${cpu.toFixed(1)} s = ${(cpu / wall).toFixed(2)} cores: ${byType})`,
    );
    if (profiler && cdp) {
      const { profile: p } = await cdp.send<{ profile: Parameters<typeof summariseProfile>[0] }>(
        'Profiler.stop',
        {},
        pageSession,
      );
      console.log(`  page\n${summariseProfile(p, 20)}`);
      console.log(await profiler.stop());
      cdp.close();
    }
    if (!trace) return;
    const buf = await browser.stopTracing();
    const { traceEvents } = JSON.parse(buf.toString()) as { traceEvents: TraceEvent[] };
    summarise(traceEvents);
  },
  profile ? [`--remote-debugging-port=${PORT}`] : [],
);

/** Per thread: busy time of top-level tasks, and the biggest event names by total time. */
function summarise(events: TraceEvent[]): void {
  const names = new Map<string, string>();
  for (const e of events)
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name ?? '?');
  const complete = events.filter((e) => e.ph === 'X' && e.dur !== undefined);
  const start = Math.min(...complete.map((e) => e.ts));
  const end = Math.max(...complete.map((e) => e.ts + (e.dur ?? 0)));
  console.log(`trace span ${((end - start) / 1e6).toFixed(2)} s`);
  const byThread = new Map<string, TraceEvent[]>();
  for (const e of complete) {
    const key = `${e.pid}:${e.tid}`;
    const list = byThread.get(key) ?? [];
    if (!list.length) byThread.set(key, list);
    list.push(e);
  }
  const rows: [string, number, string][] = [];
  for (const [key, list] of byThread) {
    // Busy = union of top-level intervals (events not nested in an earlier one).
    list.sort((a, b) => a.ts - b.ts);
    let busy = 0;
    let edge = 0;
    const totals = new Map<string, { t: number; n: number }>();
    for (const e of list) {
      const d = e.dur ?? 0;
      const f = totals.get(e.name) ?? { t: 0, n: 0 };
      f.t += d;
      f.n++;
      totals.set(e.name, f);
      if (e.ts >= edge) {
        busy += d;
        edge = e.ts + d;
      } else if (e.ts + d > edge) {
        busy += e.ts + d - edge;
        edge = e.ts + d;
      }
    }
    const top = [...totals]
      .sort((a, b) => b[1].t - a[1].t)
      .slice(0, 8)
      .map(([n, f]) => `${n} ${(f.t / 1e3).toFixed(0)} ms/${f.n}`)
      .join('; ');
    rows.push([`${names.get(key) ?? '?'} (${key})`, busy, top]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  for (const [name, busy, top] of rows.slice(0, 12)) {
    if (busy < 50e3) continue;
    console.log(
      `${name.padEnd(36)} busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / (end - start)).toFixed(0)}%)\n    ${top}`,
    );
  }
}
