/**
 * `npm run bench:web`: the web app in headless Chromium (Debian's, driven over a bare CDP
 * connection, see web-cdp.ts)
 * uploading and downloading through `cairn grid` (relay + 10 storage server processes on
 * 127.0.0.1), (3,7,10), 128 KiB segments, convergence on.
 *
 * For each size it prints upload and download MB/s (10^6 B of plaintext per second, from
 * choosing the file to the link appearing, and from pressing Download to the last byte on
 * disk, verified by SHA-256) and the peak RSS (VmHWM) of the tab's renderer process and of
 * the browser process, each reset before the phase it measures (after collecting garbage in
 * the page and its workers, so a phase is not charged with what an earlier one left). The default sizes are
 * 256 MiB (the headline speed) then 64 MiB and 1 GiB to show memory does not grow with
 * the file.
 *
 * Baselines in the same run: the same tab reading the same File through one stream (a BYOB
 * reader into a reused 1 MiB buffer) with no crypto, coding or network (the ceiling an
 * upload could reach on this machine), and
 * Chromium saving the same file served over plain HTTP by the bench (the ceiling of the
 * browser's own download path, which a download from the grid also takes).
 * The machine's 2 cores are shared by Chromium, 10 servers, the relay and whatever else
 * runs: expect ±20% noise.
 *
 * Each phase also prints the CPU seconds spent by each kind of process (Chromium's renderer,
 * browser and network utility; the grid's relay + servers) and by each Chromium thread (each
 * web worker apart), to show where the time goes.
 *
 * The primitives bound, measured in the same run (issue #16): the CPU seconds Chromium's
 * processes spend when the page itself runs only WebCrypto SHA-256 (5.33 B per byte for an
 * upload, 2 for a download, in 128 KiB pieces) and AES-CTR (every byte) over the same number
 * of bytes, plus RS encode/decode timed on the same wasm codec in this Node process (same V8;
 * a page cannot load the app's codec by itself). Each phase's Chromium CPU is printed
 * divided by it; the goal is at most 2x. It is also printed divided by what the work needs
 * beyond that bound, each part measured alone (web-floor.ts): the upload's two streamed
 * whole-file hashes, two File reads and its shares sent over ten WebSockets; the download's
 * plain HTTP save of the same file.
 *
 * Options: --sizes 256,64,1024 (MiB), --pairs N (plain save and tab download back to back N
 * times per size, default 3: point 5's ratio as their median), --timeline (cores busy per thread
 * through the upload and the first download, web-timeline.ts), --keep (leave the temp dir), --profile (V8 CPU
 * profiles of the page's workers and the service worker per phase, top functions by self
 * time; slows the phases, so its MB/s are not the headline). BENCH_GC_EVERY_MS=3000 also
 * collects garbage in the page and its workers that often during each phase: a diagnostic
 * of live memory against memory waiting for a late GC (no browser does that by itself).
 * Every phase also prints each context's largest V8 heap and ArrayBuffer memory, sampled each
 * second over CDP (Runtime.getHeapUsage); BENCH_HEAP_TRACE=1 prints every sample to stderr.
 * BENCH_MEMDUMP=1 also takes Chromium's memory-infra dumps every 5 samples and prints the
 * busiest renderer's allocators (V8's committed heaps, Blink's heap, malloc, PartitionAlloc).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../core/grid/timeout.ts';
import { DOWNLOAD_PREFIX, type RegisterDownload } from '../web/sw/messages.ts';
import { peakBytes, residentBytes, resetPeak } from './proc.ts';
import { type Cdp, CdpPage, launchChromium } from './web-cdp.ts';
import { MemoryDumps } from './web-memdump.ts';
import { HASHED_PER_BYTE, nodePrimitivesBound } from './primitives.ts';
import { median } from './stats.ts';
import { startTimeline, type Watched } from './web-timeline.ts';
import { receiveFloorCpu, sendFloorCpu, streamedHashCpu } from './web-floor.ts';
import {
  chromiumCpuSeconds,
  cpuDelta,
  sampleCpu,
  processTree,
  sampleThreads,
  threadDelta,
  WorkerProfiler,
} from './web-profile.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const sizesArg = args.indexOf('--sizes');
const sizes = (sizesArg >= 0 ? args[sizesArg + 1] : '256,64,1024').split(',').map((s) => Number(s) * MiB);
const profiling = args.includes('--profile');
const withTimeline = args.includes('--timeline');
const pairsArg = args.indexOf('--pairs');
/** Plain save and tab download, one after the other, this many times per size (point 5's ratio). */
const downloadPairs = Math.max(1, pairsArg >= 0 ? Number(args[pairsArg + 1]) : 3);
/** Presses the file page's Download button. */
const CLICK_DOWNLOAD = `[...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Download').click()`;
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Bytes a convergent upload hashes as a stream per plaintext byte: the key's pass, the crypttext hash. */
const STREAMED_PER_BYTE = 2;

async function makeFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  const chunk = Buffer.alloc(4 * MiB);
  for (let done = 0; done < size; done += chunk.length) {
    const piece = randomFillSync(chunk).subarray(0, Math.min(chunk.length, size - done));
    hash.update(piece);
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  return hash.digest('hex');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function startGrid(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'cli/bin/cairn.js'), 'grid', '--servers', '10', '--dir', dir, '--port', '0'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`cairn grid did not start in 90 s:\n${out}`)), 90_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`cairn grid exited with ${code}:\n${out}`)));
  });
  return { url, child };
}

/** What --timeline watches: Chromium's processes, the grid's (relay and servers) and this one (its sampling). */
async function watched(cdp: Cdp, gridPid: number): Promise<Watched[]> {
  const chromium = (await processes(cdp)).map((p) => ({ label: p.type.replace(/^.*\./, ''), pid: p.id }));
  const grid = processTree(gridPid).map((pid) => ({ label: 'grid', pid }));
  return [...chromium, ...grid, { label: 'bench', pid: process.pid }];
}

/** Chromium's processes by type, from the browser itself. */
async function processes(cdp: Cdp): Promise<{ type: string; id: number }[]> {
  const info = await cdp.send<{ processInfo: { type: string; id: number }[] }>('SystemInfo.getProcessInfo');
  return info.processInfo;
}

interface Peaks {
  renderer: number;
  browser: number;
  /** The renderer's resident memory when the phase began (what the peak grew from). */
  rendererBefore: number;
  /** Each context's largest V8 heap and ArrayBuffer memory seen, sampled every second. */
  heaps: string;
}
/**
 * Collects garbage in the page and every worker it started (nested ones too), so that a
 * phase's peak is not inflated by what an earlier phase left for the GC (the baseline read
 * alone leaves the file's size in dead 1 MiB slices). Sessions are found by auto-attach.
 */
class Collector {
  readonly #sessions = new Set<string>();
  /** Each session's target URL's file name, to tell the workers apart in heap figures. */
  readonly #names = new Map<string, string>();
  private constructor(
    readonly cdp: Cdp,
    readonly pageSession: string,
  ) {}

  /** With `attach` false, another CDP client (the profiler) does the auto-attaching. */
  static async start(cdp: Cdp, pageSession: string, attach: boolean): Promise<Collector> {
    const c = new Collector(cdp, pageSession);
    cdp.on((method, params) => {
      if (method === 'Target.detachedFromTarget') c.#sessions.delete(String(params.sessionId));
      if (method !== 'Target.attachedToTarget') return;
      const info = params.targetInfo as { type: string };
      if (info.type !== 'worker') return;
      const session = String(params.sessionId);
      c.#sessions.add(session);
      c.#names.set(
        session,
        String((params.targetInfo as { url?: string }).url ?? '')
          .replace(/^.*\//, '')
          .replace(/-[\w-]{8}\.js$/, ''),
      );
      if (attach)
        void cdp
          .send(
            'Target.setAutoAttach',
            { autoAttach: true, waitForDebuggerOnStart: false, flatten: true },
            session,
          )
          .catch(() => {});
    });
    if (attach)
      await cdp.send(
        'Target.setAutoAttach',
        { autoAttach: true, waitForDebuggerOnStart: false, flatten: true },
        pageSession,
      );
    return c;
  }

  /**
   * Each JavaScript context's heap (V8's used bytes) and ArrayBuffer memory (backing stores,
   * where share and segment bytes live), by name: what the renderer's resident memory is made of.
   */
  async heaps(): Promise<Map<string, { used: number; backing: number }>> {
    const out = new Map<string, { used: number; backing: number }>();
    for (const s of [this.pageSession, ...this.#sessions]) {
      // A worker ending as it is asked may never answer: the sampler must not wait for it.
      const h = await withTimeout(
        this.cdp.send<{ usedSize: number; backingStorageSize?: number }>('Runtime.getHeapUsage', {}, s),
        2000,
        'a worker',
      ).catch(() => null);
      if (!h) continue;
      let name = s === this.pageSession ? 'page' : (this.#names.get(s) ?? 'worker');
      for (let i = 2; out.has(name); i++) name = `${name.replace(/#\d+$/, '')}#${i}`;
      out.set(name, { used: h.usedSize, backing: h.backingStorageSize ?? 0 });
    }
    return out;
  }

  async collect(): Promise<void> {
    for (const s of [this.pageSession, ...this.#sessions]) {
      await this.cdp.send('HeapProfiler.collectGarbage', {}, s).catch(() => {}); // a worker may have ended
    }
  }
}

async function measurePeaks<T>(
  cdp: Cdp,
  collector: Collector,
  run: () => Promise<T>,
): Promise<{ value: T; peaks: Peaks }> {
  await collector.collect();
  const every = Number(process.env.BENCH_GC_EVERY_MS ?? 0);
  const gcTimer = every ? setInterval(() => void collector.collect(), every) : undefined;
  const before = await processes(cdp);
  for (const p of before) resetPeak(p.id);
  const rendererBefore = Math.max(
    0,
    ...before.filter((p) => p.type === 'renderer').map((p) => residentBytes(p.id)),
  );
  const maxima = new Map<string, { used: number; backing: number }>();
  let sampling = true;
  const dumps = process.env.BENCH_MEMDUMP ? await MemoryDumps.start(cdp) : undefined;
  let samples = 0;
  const sampler = (async () => {
    while (sampling) {
      if (dumps && samples++ % 5 === 0) await dumps.dump();
      const now = await collector.heaps();
      if (process.env.BENCH_HEAP_TRACE) {
        // With the renderers' resident memory, to see which moment makes the peak.
        const rss = before
          .filter((p) => p.type === 'renderer')
          .map((p) => (residentBytes(p.id) / MiB).toFixed(0));
        console.error(
          `renderer ${rss.join('+')} MiB  ${[...now].map(([n, h]) => `${n} ${mb(h.used)}/${mb(h.backing)}`).join('  ')}`,
        );
      }
      for (const [name, h] of now) {
        const m = maxima.get(name) ?? { used: 0, backing: 0 };
        maxima.set(name, { used: Math.max(m.used, h.used), backing: Math.max(m.backing, h.backing) });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const value = await run().finally(() => {
    clearInterval(gcTimer);
    sampling = false;
  });
  await sampler;
  if (dumps) {
    const renderers = (await processes(cdp)).filter((p) => p.type === 'renderer');
    const biggest = renderers.sort((a, b) => peakBytes(b.id) - peakBytes(a.id))[0];
    if (biggest)
      console.error(
        `memory-infra, renderer ${biggest.id} (MiB):\n${(await dumps.stop(biggest.id)).join('\n')}`,
      );
  }
  const heaps = [...maxima]
    .map(([name, m]) => `${name} heap ${mb(m.used)}, buffers ${mb(m.backing)}`)
    .join('; ');
  const after = await processes(cdp);
  const of = (type: string) =>
    Math.max(0, ...after.filter((p) => p.type === type).map((p) => peakBytes(p.id)));
  return { value, peaks: { renderer: of('renderer'), browser: of('browser'), rendererBefore, heaps } };
}

async function readBaseline(
  cdp: Cdp,
  page: CdpPage,
  gridPid: number,
  file: string,
): Promise<{ mbs: number; cpu: number }> {
  await page.evaluate(`(() => {
    const input = document.createElement('input');
    input.type = 'file';
    input.id = 'bench-baseline';
    input.hidden = true;
    document.body.append(input);
  })()`);
  await page.setInputFiles('#bench-baseline', [file]);
  const before = await sampleCpu(cdp, gridPid);
  const mbs = await page.evaluate<number>(`(async () => {
    const f = document.getElementById('bench-baseline').files[0];
    const t0 = performance.now();
    // One stream, a BYOB reader into one reused buffer: the cheapest read (the app's way).
    const reader = f.stream().getReader({ mode: 'byob' });
    let buf = new Uint8Array(1 << 20);
    let got = 0;
    for (;;) {
      const { value, done } = await reader.read(buf);
      if (done) break;
      got += value.length;
      buf = new Uint8Array(value.buffer);
    }
    const s = (performance.now() - t0) / 1000;
    document.getElementById('bench-baseline').remove();
    if (got !== f.size) throw new Error('read ' + got + ' of ' + f.size + ' bytes');
    return f.size / s / 1e6;
  })()`);
  const after = await sampleCpu(cdp, gridPid);
  return { mbs, cpu: chromiumCpuSeconds(before, after) };
}

/**
 * The next download Chromium finishes into `downloads`: resolves with its path, and calls
 * `onBegin` when the browser has the response (a tab download's comes once its first segment
 * is verified) and `onFirstBytes` at the first progress report with bytes received. Chromium
 * reports a download's progress every 500 ms (DownloadFileImpl's update period), so the
 * second can trail the first bytes by up to that. Call before starting the download.
 */
function nextDownload(
  cdp: Cdp,
  downloads: string,
  what: string,
  onFirstBytes?: () => void,
  onBegin?: () => void,
): Promise<string> {
  let started = false;
  return new Promise<string>((resolve, reject) => {
    const off = cdp.on((method, params) => {
      if (method === 'Browser.downloadWillBegin') onBegin?.();
      if (method !== 'Browser.downloadProgress') return;
      if (!started && Number(params.receivedBytes) > 0) {
        started = true;
        onFirstBytes?.();
      }
      if (params.state === 'completed') {
        off();
        resolve(path.join(downloads, String(params.guid)));
      } else if (params.state === 'canceled') {
        off();
        reject(new Error(`${what} was cancelled`));
      }
    });
  });
}

/**
 * Chromium's MB/s and CPU seconds saving a download of `size` bytes that `start` begins;
 * checks the saved size and removes the file.
 */
async function timedSave(
  cdp: Cdp,
  gridPid: number,
  downloads: string,
  what: string,
  size: number,
  start: () => Promise<void>,
): Promise<{ mbs: number; cpu: number }> {
  const done = nextDownload(cdp, downloads, what);
  const before = await sampleCpu(cdp, gridPid);
  const t0 = performance.now();
  await start();
  const saved = await done;
  const s = (performance.now() - t0) / 1000;
  const cpu = chromiumCpuSeconds(before, await sampleCpu(cdp, gridPid));
  if ((await fs.stat(saved)).size !== size) throw new Error(`${what} has the wrong size`);
  await fs.rm(saved);
  return { mbs: size / s / 1e6, cpu };
}

/**
 * Download baseline: Chromium saving the same file served over plain HTTP by this process
 * (no grid, no workers, no service worker): what the browser's own download path costs on
 * this machine, the ceiling a download from the grid could reach.
 */
async function plainDownloadBaseline(
  cdp: Cdp,
  gridPid: number,
  file: string,
  size: number,
  downloads: string,
): Promise<{ mbs: number; cpu: number }> {
  const server = createServer((req, res) => {
    if (req.url !== '/baseline.bin') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>baseline</title>');
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'content-disposition': 'attachment; filename="baseline.bin"',
    });
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  // The page is loaded first, so that starting its renderer is not counted as the save's.
  const page = await CdpPage.load(cdp, `http://127.0.0.1:${port}/`);
  try {
    return await timedSave(cdp, gridPid, downloads, 'the baseline download', size, async () => {
      await page.evaluate(`location.href = '/baseline.bin'`);
    });
  } finally {
    await cdp.send('Target.closeTarget', { targetId: page.targetId }).catch(() => {});
    server.close();
  }
}

/** The chunks a tab download hands the service worker: pieces of 4 decrypted 128 KiB segments (decoder.ts). */
const STREAMED_CHUNK = 512 * 1024;

/**
 * Download baseline through the app's own route: Chromium saving a file of `size` bytes that
 * the page hands the app's service worker as a tab download does (a port stream, port-stream.ts;
 * each chunk fresh memory transferred, as WebCrypto's output is), but made in the page from one
 * random block instead of fetched, checked and decrypted. What the service-worker route costs
 * alone and how fast it can go: the ceiling of a download that takes it.
 */
async function streamedSaveBaseline(
  cdp: Cdp,
  page: CdpPage,
  gridPid: number,
  size: number,
  downloads: string,
): Promise<{ mbs: number; cpu: number }> {
  const register: Omit<RegisterDownload, 'id'> = {
    kind: 'download',
    meta: { name: 'streamed.bin', size, type: 'application/octet-stream' },
    viaPort: true,
  };
  const result = await timedSave(
    cdp,
    gridPid,
    downloads,
    'the streamed baseline download',
    size,
    async () => {
      // The sender below speaks port-stream.ts's protocol: an ok reply, then a chunk per pull.
      await page.evaluate(`(async () => {
    const size = ${size}, CHUNK = ${STREAMED_CHUNK};
    const block = new Uint8Array(CHUNK);
    for (let o = 0; o < CHUNK; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
    const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) => x.toString(16).padStart(2, '0')).join('');
    const reply = new MessageChannel();
    const data = new MessageChannel();
    const ack = new Promise((r) => { reply.port1.onmessage = r; });
    navigator.serviceWorker.controller.postMessage({ ...${JSON.stringify(register)}, id }, [reply.port2, data.port1]);
    await ack;
    reply.port1.close();
    let sent = 0;
    const port = data.port2;
    port.onmessage = (e) => {
      if (!e.data.pull) return port.close();
      if (sent >= size) { port.postMessage({ end: true }); return port.close(); }
      const chunk = new Uint8Array(Math.min(CHUNK, size - sent));
      chunk.set(block.subarray(0, chunk.length));
      sent += chunk.length;
      port.postMessage({ chunk }, [chunk.buffer]);
    };
    port.postMessage({ ok: true });
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.id = 'bench-streamed';
    frame.src = new URL(${JSON.stringify(DOWNLOAD_PREFIX)} + id, document.baseURI).href;
    document.body.append(frame);
    return true;
  })()`);
    },
  );
  await page.evaluate(`(document.getElementById('bench-streamed')?.remove(), true)`);
  return result;
}

const SAMPLE = 64 * MiB;

/**
 * Chromium CPU seconds for WebCrypto SHA-256 and AES-CTR alone over `size` bytes in `page`
 * (run on a sample of at most 64 MiB and scaled: both are linear in bytes), each apart.
 */
async function webCryptoCpu(
  cdp: Cdp,
  page: CdpPage,
  gridPid: number,
  size: number,
  direction: 'upload' | 'download',
): Promise<{ sha256: number; aesCtr: number }> {
  const sample = Math.min(size, SAMPLE);
  await page.evaluate(`(() => {
    const d = new Uint8Array(${sample});
    for (let o = 0; o < d.length; o += 65536) crypto.getRandomValues(d.subarray(o, Math.min(o + 65536, d.length)));
    globalThis.__benchSample = d;
    return true;
  })()`);
  const before = await sampleCpu(cdp, gridPid);
  await page.evaluate(`(async () => {
    const d = globalThis.__benchSample;
    const SEG = 128 * 1024;
    const total = Math.round(d.length * ${HASHED_PER_BYTE[direction]});
    for (let done = 0; done < total; ) {
      const off = done % d.length;
      const len = Math.min(SEG, d.length - off, total - done);
      await crypto.subtle.digest('SHA-256', d.subarray(off, off + len));
      done += len;
    }
    return true;
  })()`);
  const hashed = await sampleCpu(cdp, gridPid);
  await page.evaluate(`(async () => {
    const d = globalThis.__benchSample;
    const key = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-CTR', false, ['encrypt']);
    const counter = new Uint8Array(16);
    for (let off = 0; off < d.length; off += 1 << 20) {
      await crypto.subtle.encrypt({ name: 'AES-CTR', counter, length: 64 }, key, d.subarray(off, off + (1 << 20)));
    }
    delete globalThis.__benchSample;
    return true;
  })()`);
  const after = await sampleCpu(cdp, gridPid);
  const scale = size / sample;
  return {
    sha256: chromiumCpuSeconds(before, hashed) * scale,
    aesCtr: chromiumCpuSeconds(hashed, after) * scale,
  };
}

interface Row {
  size: number;
  upMBs: number;
  downMBs: number;
  upPeak: Peaks;
  downPeak: Peaks;
  readMBs: number;
  /** Chromium saving the same file over plain HTTP, MB/s (plainDownloadBaseline). */
  plainDownMBs: number;
  /** Chromium saving as many bytes made in the page through the app's service worker (streamedSaveBaseline). */
  streamedDown: { mbs: number; cpu: number };
  /** MB/s of the plain save and the tab download, pairs run one after the other (the first: plainDownMBs, downMBs). */
  downPairs: { plain: number; tab: number }[];
  /** Seconds from pressing Download to the first progress report with bytes on disk. */
  downFirstS: number;
  /** Seconds from pressing Download to the browser starting the download (nextDownload). */
  downBeginS: number;
  upCpu: string;
  downCpu: string;
  /** CPU seconds of the grid (relay and servers) through the download. */
  downGridCpu: number;
  /** Chromium CPU seconds to receive the download's share bytes alone (web-floor.ts). */
  downReceiveCpu: number;
  /** Chromium CPU seconds per phase, and the primitives bound of each. */
  upChromiumCpu: number;
  downChromiumCpu: number;
  upBound: number;
  downBound: number;
  /** What else an upload's work needs beyond its bound, CPU seconds (web-floor.ts). */
  upFloorParts: { hash: number; read: number; send: number };
  /** Chromium CPU seconds saving the file over plain HTTP (what else a download needs). */
  plainDownCpu: number;
  profile: string;
}

async function measure(
  gridUrl: string,
  gridPid: number,
  file: string,
  sum: string,
  size: number,
  dir: string,
): Promise<Row> {
  const profile = await fs.mkdtemp(path.join(dir, 'profile-'));
  const downloads = await fs.mkdtemp(path.join(dir, 'downloads-'));
  const chromium = await launchChromium(chromiumPath, profile);
  const { cdp } = chromium;
  try {
    await cdp.send('Browser.setDownloadBehavior', {
      behavior: 'allowAndName',
      downloadPath: downloads,
      eventsEnabled: true,
    });
    const page = await CdpPage.open(cdp, gridUrl);
    await page.waitFor(
      'document.readyState === "complete" && navigator.serviceWorker?.controller != null',
      30_000,
    );
    const read = await readBaseline(cdp, page, gridPid, file);
    const plainDown = await plainDownloadBaseline(cdp, gridPid, file, size, downloads);
    const streamedDown = await streamedSaveBaseline(cdp, page, gridPid, size, downloads);
    const boundOf = async (direction: 'upload' | 'download') => {
      const c = await webCryptoCpu(cdp, page, gridPid, size, direction);
      const { rs } = await nodePrimitivesBound({ size, k: 3, n: 10, direction });
      return { sha256: c.sha256, total: c.sha256 + c.aesCtr + rs };
    };
    const upBounds = await boundOf('upload');
    const downBound = (await boundOf('download')).total;
    // What else the work needs (web-floor.ts): a convergent upload's two whole-file hashes
    // streamed (counted in the bound at WebCrypto's one-shot rate), two reads of the File,
    // and the N/k-expanded shares sent; a download, what Chromium spends saving the same file
    // fetched over plain HTTP.
    const streamedShare = STREAMED_PER_BYTE / HASHED_PER_BYTE.upload;
    const upFloorParts = {
      hash: (await streamedHashCpu(STREAMED_PER_BYTE * size)) - streamedShare * upBounds.sha256,
      read: 2 * read.cpu,
      send: await sendFloorCpu(cdp, gridPid, Math.ceil((size * 10) / 3)),
    };
    const downReceiveCpu = await receiveFloorCpu(cdp, gridPid, size);
    const profiler = profiling ? await WorkerProfiler.attach(cdp, page.sessionId) : null;
    const collector = await Collector.start(cdp, page.sessionId, !profiler);
    let profile = '';
    await profiler?.start();
    const cpu0 = await sampleCpu(cdp, gridPid);
    const threads0 = await sampleThreads(cdp);
    const upTimeline = withTimeline ? startTimeline(await watched(cdp, gridPid)) : undefined;

    const up = await measurePeaks(cdp, collector, async () => {
      const t0 = performance.now();
      await page.setInputFiles('input[type=file]', [file]);
      const result = await page.waitFor<{ href?: string; error?: string }>(
        `(() => {
          const a = document.querySelector('a.open-link');
          if (a) return { href: a.href };
          const e = document.querySelector('li.job .error');
          return e ? { error: e.textContent } : null;
        })()`,
        30 * 60_000,
        100,
      );
      if (result.error) throw new Error(`upload failed: ${result.error}`);
      return { s: (performance.now() - t0) / 1000, href: result.href! };
    });
    const cpu1 = await sampleCpu(cdp, gridPid);
    profile += `upload, CPU by thread: ${threadDelta(threads0, await sampleThreads(cdp))}\n`;
    if (upTimeline) profile += `upload, cores busy:\n${upTimeline.stop()}\n`;
    if (profiler) profile += `upload, per worker:\n${await profiler.stop()}\n`;

    await page.evaluate(`location.href = ${JSON.stringify(up.value.href)}`);
    await page.waitFor(
      `[...document.querySelectorAll('button')].some((b) => b.textContent.trim() === 'Download')`,
      30_000,
    );
    const cpu2 = await sampleCpu(cdp, gridPid);
    const threads2 = await sampleThreads(cdp);
    const downTimeline = withTimeline ? startTimeline(await watched(cdp, gridPid)) : undefined;
    const down = await measurePeaks(cdp, collector, async () => {
      let firstByteAt = 0;
      let beganAt = 0;
      const done = nextDownload(
        cdp,
        downloads,
        'the download',
        () => {
          firstByteAt = performance.now();
        },
        () => {
          beganAt = performance.now();
        },
      );
      await profiler?.start();
      const t0 = performance.now();
      await page.evaluate(CLICK_DOWNLOAD);
      const saved = await done;
      return {
        s: (performance.now() - t0) / 1000,
        firstS: (firstByteAt - t0) / 1000,
        beginS: (beganAt - t0) / 1000,
        saved,
      };
    });
    const cpu3 = await sampleCpu(cdp, gridPid);
    profile += `download, CPU by thread: ${threadDelta(threads2, await sampleThreads(cdp))}\n`;
    if (downTimeline) profile += `download, cores busy:\n${downTimeline.stop()}\n`;
    if (profiler) profile += `download, per worker:\n${await profiler.stop()}\n`;
    const got = await sha256File(down.value.saved);
    if (got !== sum) throw new Error(`downloaded bytes differ from the uploaded file (${size} bytes)`);
    await fs.rm(down.value.saved);
    // Point 5's ratio from pairs run back to back: the plain save's own rate moves by 1.5x
    // from one minute to the next here (110-220 MB/s at 64 MiB), so a single pair, its save
    // measured before the upload, lands on either side of the goal by chance.
    const downPairs = [{ plain: plainDown.mbs, tab: size / down.value.s / 1e6 }];
    for (let i = 1; i < downloadPairs; i++) {
      const plain = await plainDownloadBaseline(cdp, gridPid, file, size, downloads);
      const tab = await timedSave(cdp, gridPid, downloads, 'a repeated download', size, async () => {
        await page.evaluate(CLICK_DOWNLOAD);
      });
      downPairs.push({ plain: plain.mbs, tab: tab.mbs });
    }
    return {
      size,
      upMBs: size / up.value.s / 1e6,
      downMBs: size / down.value.s / 1e6,
      upPeak: up.peaks,
      downPeak: down.peaks,
      readMBs: read.mbs,
      plainDownMBs: plainDown.mbs,
      streamedDown,
      upFloorParts,
      plainDownCpu: plainDown.cpu,
      downPairs,
      downFirstS: down.value.firstS,
      downBeginS: down.value.beginS,
      upCpu: cpuDelta(cpu0, cpu1),
      downCpu: cpuDelta(cpu2, cpu3),
      upChromiumCpu: chromiumCpuSeconds(cpu0, cpu1),
      downChromiumCpu: chromiumCpuSeconds(cpu2, cpu3),
      downGridCpu: (cpu3.get('grid') ?? 0) - (cpu2.get('grid') ?? 0),
      downReceiveCpu,
      upBound: upBounds.total,
      downBound,
      profile,
    };
  } finally {
    await chromium.close();
    await fs.rm(profile, { recursive: true, force: true, maxRetries: 5 });
    await fs.rm(downloads, { recursive: true, force: true });
  }
}

const mb = (n: number) => `${(n / MiB).toFixed(0)} MiB`;

async function main() {
  if (!existsSync(path.join(repoRoot, 'dist/web/index.html'))) {
    throw new Error("no web bundle in dist/web: run 'npm run build' first");
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-web-'));
  const grid = await startGrid(path.join(dir, 'grid'));
  console.log(`grid: ${grid.url} (10 servers, k=3 happy=7 N=10), Chromium ${chromiumPath}`);
  const rows: Row[] = [];
  try {
    for (const size of sizes) {
      const file = path.join(dir, `bench-${size / MiB}MiB.bin`);
      const sum = await makeFile(file, size);
      const row = await measure(grid.url, grid.child.pid!, file, sum, size, dir);
      rows.push(row);
      console.log(
        `${mb(size).padStart(9)}  upload ${row.upMBs.toFixed(1).padStart(6)} MB/s  download ${row.downMBs
          .toFixed(1)
          .padStart(6)} MB/s  ` +
          `renderer peak up ${mb(row.upPeak.renderer)} / down ${mb(row.downPeak.renderer)}  ` +
          `browser peak up ${mb(row.upPeak.browser)} / down ${mb(row.downPeak.browser)}  ` +
          `(baselines: tab reads the File at ${row.readMBs.toFixed(0)} MB/s, upload = ${((100 * row.upMBs) / row.readMBs).toFixed(1)}% of it; ` +
          `Chromium saves a plain HTTP download at ${row.plainDownMBs.toFixed(0)} MB/s, download = ${((100 * row.downMBs) / row.plainDownMBs).toFixed(1)}% of it; ` +
          `bytes made in the page and saved through the app's service worker ${row.streamedDown.mbs.toFixed(0)} MB/s ` +
          `(${((100 * row.streamedDown.mbs) / row.plainDownMBs).toFixed(1)}% of the plain save, Chromium CPU ${row.streamedDown.cpu.toFixed(2)} s ` +
          `against the plain save's ${row.plainDownCpu.toFixed(2)} s), download = ${((100 * row.downMBs) / row.streamedDown.mbs).toFixed(1)}% of it)`,
      );
      console.log(
        `           download began after ${row.downBeginS.toFixed(2)} s (first progress report with bytes after ${row.downFirstS.toFixed(2)} s: Chromium reports every 500 ms); renderer at rest before upload ${mb(row.upPeak.rendererBefore)} / before download ${mb(row.downPeak.rendererBefore)}; ` +
          `CPU upload: ${row.upCpu}; download: ${row.downCpu}`,
      );
      console.log(
        `           Chromium CPU / primitives bound: upload ${(row.upChromiumCpu / row.upBound).toFixed(2)}x ` +
          `(${row.upChromiumCpu.toFixed(1)} s / ${row.upBound.toFixed(1)} s), download ` +
          `${(row.downChromiumCpu / row.downBound).toFixed(2)}x (${row.downChromiumCpu.toFixed(1)} s / ${row.downBound.toFixed(1)} s)`,
      );
      const p = row.upFloorParts;
      const upFloor = row.upBound + p.hash + p.read + p.send;
      const downFloor = row.downBound + row.plainDownCpu;
      console.log(
        `           Chromium CPU / what the work needs here: upload ${(row.upChromiumCpu / upFloor).toFixed(2)}x ` +
          `(${upFloor.toFixed(1)} s: the bound + the two whole-file hashes streamed ${p.hash.toFixed(2)} s + ` +
          `two File reads ${p.read.toFixed(2)} s + the shares sent over ten WebSockets ${p.send.toFixed(2)} s), ` +
          `download ${(row.downChromiumCpu / downFloor).toFixed(2)}x (${downFloor.toFixed(1)} s: the bound + ` +
          `a plain HTTP save of the file ${row.plainDownCpu.toFixed(2)} s)`,
      );
      // Point 5's goal as CPU: everything a download here needs runs on this machine's cores
      // (Chromium and the grid share them), so 0.6x the plain save's rate is out of reach when
      // the least that work can cost exceeds the core-seconds that rate leaves. The bound's
      // AES and the route's chunks each count fresh memory for the plaintext (in the app it is
      // one allocation): the parts overlap by at most that. The rate is the pairs' median plain save.
      const ratios = row.downPairs.map((d) => d.tab / d.plain);
      const plainRate = median(row.downPairs.map((d) => d.plain));
      const goalS = size / (0.6 * plainRate * 1e6);
      const cores = os.cpus().length;
      const least = row.downBound + row.downReceiveCpu + row.streamedDown.cpu + row.downGridCpu;
      const downS = size / (row.downMBs * 1e6);
      const downUsed = row.downChromiumCpu + row.downGridCpu;
      console.log(
        `           download / plain save, ${row.downPairs.length} pairs one after the other (point 5): ` +
          row.downPairs
            .map((d) => `${d.tab.toFixed(0)} / ${d.plain.toFixed(0)} MB/s = ${(d.tab / d.plain).toFixed(2)}x`)
            .join(', ') +
          `; median ${median(ratios).toFixed(2)}x (goal >= 0.6x)`,
      );
      console.log(
        `           0.6x the median plain save = ${(0.6 * plainRate).toFixed(0)} MB/s: the download in ${goalS.toFixed(2)} s, ` +
          `${(cores * goalS).toFixed(1)} CPU s on ${cores} cores; the least it costs here ${least.toFixed(1)} s ` +
          `(the bound ${row.downBound.toFixed(1)} + the share bytes received alone ${row.downReceiveCpu.toFixed(1)} + ` +
          `the service-worker route alone ${row.streamedDown.cpu.toFixed(1)} + the grid's CPU in this download ` +
          `${row.downGridCpu.toFixed(1)}) = ${((100 * least) / (cores * goalS)).toFixed(0)}% of them; ` +
          `the first download took ${downS.toFixed(2)} s and ${downUsed.toFixed(1)} CPU s (Chromium and grid), ` +
          `${(downUsed / downS).toFixed(2)} of ${cores} cores`,
      );
      console.log(`           largest seen, upload: ${row.upPeak.heaps}`);
      console.log(`           largest seen, download: ${row.downPeak.heaps}`);
      if (row.profile) console.log(row.profile);
      await fs.rm(file);
    }
    console.log(
      'goals (issue #16): Chromium CPU at most 2x the primitives bound; download at least 0.6x the plain ' +
        'HTTP download, first byte within 1 s; renderer peak above rest at most 150 MiB, flat in size',
    );
  } finally {
    grid.child.kill('SIGTERM');
    await new Promise((r) => grid.child.once('exit', r));
    if (!args.includes('--keep')) await fs.rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
