/**
 * The Chromium half of bench:mutable (bench/mutable.ts), in Debian's headless Chromium driven
 * over bare CDP (web-cdp.ts, so no driver copies WebSocket frames):
 *
 * - RSA-2048 key generation: core/primitives/rsa.ts bundled by esbuild into a page served on
 *   127.0.0.1 (a secure context), `generateRsaKeyPair()` timed in the page.
 * - The real product path for files: the web app served by the grid's relay. A file is chosen
 *   on the Upload page with 'Editable' ticked (an MDMF file, published by the tab's grid
 *   worker) or not (a CHK file: the grid worker and its segment workers); the phase ends when
 *   the card shows the link (a MutationObserver in the page stamps the moment). Then the link
 *   is opened and Download pressed; the phase ends when Chromium has written the last byte
 *   (Browser.downloadProgress), and the file is checked by SHA-256.
 * - Each grid worker's WebCrypto `generateKey` is wrapped when the worker starts, so the key
 *   generation inside an MDMF publish is timed where it runs and taken out of the publish's
 *   wall clock (its CPU stays in the renderer's figure: it is printed beside).
 * - CPU seconds per phase: all of Chromium's processes (renderer with its workers, browser,
 *   network service), the relay and the 10 servers.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  fmtSize,
  KINDS,
  type Kind,
  type LocalGrid,
  MiB,
  machineCpu,
  medianPhase,
  oneLine,
  type Phase,
  type RuntimeFigures,
  type SizeFigures,
} from './mutable-grid.ts';
import { peakBytes, procCpu, resetPeak } from './proc.ts';
import { type Cdp, CdpPage, launchChromium } from './web-cdp.ts';
import { WorkerProfiler } from './web-profile.ts';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface BrowserBenchOptions {
  sizes: number[];
  repsFor(size: number): number;
  keygens: number;
  dir: string;
  /** V8 CPU profiles of the page's workers per phase of the last run of each size. */
  profile?: boolean;
}

const epochNow = () => performance.timeOrigin + performance.now();

async function makeFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  const chunk = Buffer.alloc(Math.min(size, 4 * MiB));
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

/** Median-of-`count` RSA-2048 key generation in a page running core/primitives/rsa.ts. */
async function keygenInPage(cdp: Cdp, count: number): Promise<number[]> {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../core/primitives/rsa.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    globalName: 'cairnRsa',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  // WebCrypto wants a secure context: http://127.0.0.1 is one.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>rsa</title>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  try {
    const page = await CdpPage.open(cdp, `http://127.0.0.1:${port}/`);
    await page.waitFor(
      `location.origin === 'http://127.0.0.1:${port}' && document.readyState === 'complete'`,
      30_000,
    );
    if (!(await page.evaluate<boolean>(`${bundle.outputFiles[0].text}; window.isSecureContext`)))
      throw new Error('the key generation page is not a secure context');
    const times = await page.evaluate<number[]>(`(async () => {
      const times = [];
      for (let i = 0; i < ${count}; i++) {
        const t0 = performance.now();
        await cairnRsa.generateRsaKeyPair();
        times.push(performance.now() - t0);
      }
      return times;
    })()`);
    await cdp.send('Target.closeTarget', { targetId: page.targetId }).catch(() => {});
    return times;
  } finally {
    server.close();
  }
}

/** Installed in every grid worker as it starts: times each RSA generateKey (ms). */
const KEYGEN_TIMER = `(() => {
  const subtle = globalThis.crypto.subtle;
  const original = subtle.generateKey;
  globalThis.__benchKeygens = [];
  subtle.generateKey = async (...a) => {
    const t0 = performance.now();
    try {
      return await original.apply(subtle, a);
    } finally {
      if (a[0] && a[0].name === 'RSA-PSS') globalThis.__benchKeygens.push(performance.now() - t0);
    }
  };
  return true;
})()`;

/** Sessions of the page's grid workers, each with the key-generation timer installed. */
class GridWorkers {
  readonly sessions = new Set<string>();
  private constructor(readonly cdp: Cdp) {}

  static async watch(cdp: Cdp, pageSession: string): Promise<GridWorkers> {
    const w = new GridWorkers(cdp);
    cdp.on((method, params) => {
      if (method === 'Target.detachedFromTarget') w.sessions.delete(String(params.sessionId));
      if (method !== 'Target.attachedToTarget') return;
      const info = params.targetInfo as { type: string; title: string; url: string };
      const session = String(params.sessionId);
      void (async () => {
        if (info.type === 'worker' && (info.title === 'cairn-grid' || /grid-worker/.test(info.url))) {
          // Paused before its first line: the timer is in place before the app's code runs.
          const r = await cdp.send<{ result: { value?: boolean } }>(
            'Runtime.evaluate',
            { expression: KEYGEN_TIMER, returnByValue: true },
            session,
          );
          if (r.result.value === true) w.sessions.add(session);
        }
        await cdp.send('Runtime.runIfWaitingForDebugger', {}, session);
      })().catch(() => {});
    });
    await cdp.send(
      'Target.setAutoAttach',
      { autoAttach: true, waitForDebuggerOnStart: true, flatten: true },
      pageSession,
    );
    return w;
  }

  /** Key generations timed since the last call (ms), from every grid worker. */
  async take(): Promise<number[]> {
    const out: number[] = [];
    for (const s of this.sessions) {
      const r = await this.cdp
        .send<{ result: { value?: number[] } }>(
          'Runtime.evaluate',
          { expression: 'globalThis.__benchKeygens.splice(0)', returnByValue: true },
          s,
        )
        .catch(() => ({ result: { value: [] as number[] } }));
      out.push(...(r.result.value ?? []));
    }
    return out;
  }
}

/** CPU seconds so far of every Chromium process (pid → its type and seconds). */
async function chromiumCpu(cdp: Cdp): Promise<Map<number, { type: string; s: number }>> {
  const info = await cdp.send<{ processInfo: { id: number; type: string; cpuTime: number }[] }>(
    'SystemInfo.getProcessInfo',
  );
  return new Map(info.processInfo.map((p) => [p.id, { type: p.type, s: procCpu(p.id) ?? p.cpuTime }]));
}

async function browserPhase<T>(
  cdp: Cdp,
  grid: LocalGrid,
  run: () => Promise<{ seconds: number; value: T }>,
): Promise<{ phase: Phase; value: T }> {
  const m0 = machineCpu();
  const g0 = grid.cpu();
  const c0 = await chromiumCpu(cdp);
  const renderers = () => [...c0].filter(([, p]) => p.type === 'renderer').map(([pid]) => pid);
  for (const pid of renderers()) resetPeak(pid);
  const { seconds, value } = await run();
  const c1 = await chromiumCpu(cdp);
  const g1 = grid.cpu();
  const m1 = machineCpu();
  let client = 0;
  const byType = new Map<string, number>();
  for (const [pid, p] of c1) {
    const d = p.s - (c0.get(pid)?.s ?? 0);
    client += d;
    byType.set(p.type, (byType.get(p.type) ?? 0) + d);
  }
  const detail = [...byType].map(([t, s]) => `${t} ${s.toFixed(2)}`).join(', ');
  const relay = g1.relay - g0.relay;
  const servers = g1.servers - g0.servers;
  const total = m1.total - m0.total;
  const others = total > 0 ? Math.max(0, m1.busy - m0.busy - client - relay - servers) / total : 0;
  const peak = Math.max(0, ...renderers().map(peakBytes));
  return { phase: { seconds, client, relay, servers, others, detail, peak }, value };
}

/** The next download Chromium completes: its path and the moment (epoch ms) it completed. */
function nextDownload(cdp: Cdp, downloads: string): Promise<{ file: string; at: number }> {
  return new Promise((resolve, reject) => {
    const off = cdp.on((method, params) => {
      if (method !== 'Browser.downloadProgress') return;
      if (params.state === 'completed') {
        off();
        resolve({ file: path.join(downloads, String(params.guid)), at: epochNow() });
      } else if (params.state === 'canceled') {
        off();
        reject(new Error('the download was cancelled'));
      }
    });
  });
}

class WebApp {
  constructor(
    readonly cdp: Cdp,
    readonly page: CdpPage,
    readonly downloads: string,
  ) {}

  /** Uploads `file` from the Upload page; returns the seconds taken and the card's link. */
  async upload(file: string, editable: boolean): Promise<{ seconds: number; value: string }> {
    const { page } = this;
    await page.evaluate(`location.hash = '#/'`);
    await page.waitFor(`document.querySelector('input[type=file]') !== null`, 30_000);
    await page.evaluate(`(() => {
      for (const b of [...document.querySelectorAll('li.job button')]) if (b.textContent.trim() === 'Dismiss') b.click();
      const box = document.querySelector('label.check input[type=checkbox]');
      if (box.checked !== ${editable}) box.click();
      window.__benchDone = 0;
      const seen = () => document.querySelector('li.job a.open-link, li.job .error');
      new MutationObserver((_, obs) => {
        if (seen()) {
          window.__benchDone = performance.timeOrigin + performance.now();
          obs.disconnect();
        }
      }).observe(document.body, { subtree: true, childList: true });
    })()`);
    await page.waitFor(
      `document.querySelectorAll('li.job').length === 0 && document.querySelector('label.check input').checked === ${editable}`,
      10_000,
    );
    const t0 = epochNow();
    await page.setInputFiles('input[type=file]', [file]);
    const doneAt = await page.waitFor<number>('window.__benchDone', 30 * 60_000, 50);
    const result = await page.evaluate<{ href?: string; error?: string }>(`(() => {
      const a = document.querySelector('li.job a.open-link');
      if (a) return { href: a.href };
      return { error: document.querySelector('li.job .error')?.textContent ?? '?' };
    })()`);
    if (result.error) throw new Error(`Chromium: the upload failed: ${result.error}`);
    return { seconds: (doneAt - t0) / 1000, value: result.href! };
  }

  /** Opens the file page of `href` and presses Download; returns seconds and the saved file. */
  async download(href: string): Promise<{ seconds: number; value: string }> {
    const { page } = this;
    await page.evaluate(`location.href = ${JSON.stringify(href)}`);
    await page.waitFor(
      `(() => {
        const b = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Download');
        return b && !b.disabled && !document.body.textContent.includes('asking the grid');
      })()`,
      60_000,
    );
    const done = nextDownload(this.cdp, this.downloads);
    const t0 = await page.evaluate<number>(`(() => {
      const t = performance.timeOrigin + performance.now();
      [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Download').click();
      return t;
    })()`);
    const saved = await done;
    return { seconds: (saved.at - t0) / 1000, value: saved.file };
  }
}

export async function browserBench(grid: LocalGrid, o: BrowserBenchOptions): Promise<RuntimeFigures> {
  const profileDir = await fs.mkdtemp(path.join(o.dir, 'chromium-'));
  const downloads = await fs.mkdtemp(path.join(o.dir, 'downloads-'));
  const chromium = await launchChromium(chromiumPath, profileDir);
  const { cdp } = chromium;
  try {
    const version = await cdp.send<{ product: string }>('Browser.getVersion');
    const keygenMs = await keygenInPage(cdp, o.keygens);
    await cdp.send('Browser.setDownloadBehavior', {
      behavior: 'allowAndName',
      downloadPath: downloads,
      eventsEnabled: true,
    });
    const page = await CdpPage.open(cdp, grid.url);
    const workers = await GridWorkers.watch(cdp, page.sessionId);
    await page.waitFor(
      'document.readyState === "complete" && navigator.serviceWorker?.controller != null',
      30_000,
    );
    const app = new WebApp(cdp, page, downloads);
    const profiler = o.profile ? await WorkerProfiler.attach(cdp, page.sessionId) : null;

    // Warm up: both grid workers, the segment workers, the service worker, the sockets.
    const warm = path.join(o.dir, 'warm.bin');
    const warmSum = await makeFile(warm, 512 * 1024);
    for (const editable of [false, true]) {
      const href = (await app.upload(warm, editable)).value;
      const saved = (await app.download(href)).value;
      if ((await sha256File(saved)) !== warmSum)
        throw new Error('Chromium: the warm-up file read back differs');
      await fs.rm(saved);
    }
    await workers.take();

    const out: SizeFigures[] = [];
    for (const size of o.sizes) {
      const reps = o.repsFor(size);
      const runs: Record<Kind, Phase[]> = {
        'mdmf-publish': [],
        'mdmf-retrieve': [],
        'chk-upload': [],
        'chk-download': [],
      };
      const keygenInPublishMs: number[] = [];
      const profiles: string[] = [];
      for (let r = 0; r < reps; r++) {
        const file = path.join(o.dir, `in-${size}-${r}.bin`);
        const digest = await makeFile(file, size);
        const profiling = profiler !== null && r === reps - 1;
        const pair = async (editable: boolean) => {
          const [up, down]: [Kind, Kind] = editable
            ? ['mdmf-publish', 'mdmf-retrieve']
            : ['chk-upload', 'chk-download'];
          if (profiling) await profiler.start();
          const u = await browserPhase(cdp, grid, () => app.upload(file, editable));
          if (profiling)
            profiles.push(`${up} (CPU s: ${u.phase.detail}), per worker:\n${await profiler.stop()}`);
          let phase = u.phase;
          if (editable) {
            const kg = await workers.take();
            keygenInPublishMs.push(...kg);
            phase = { ...phase, seconds: phase.seconds - kg.reduce((a, b) => a + b, 0) / 1000 };
          }
          runs[up].push(phase);
          if (profiling) await profiler.start();
          const d = await browserPhase(cdp, grid, () => app.download(u.value));
          if (profiling)
            profiles.push(`${down} (CPU s: ${d.phase.detail}), per worker:\n${await profiler.stop()}`);
          runs[down].push(d.phase);
          if ((await sha256File(d.value)) !== digest)
            throw new Error(
              `Chromium: the ${editable ? 'MDMF' : 'CHK'} file of ${size} bytes read back differs`,
            );
          await fs.rm(d.value);
        };
        if (r % 2 === 0) {
          await pair(false);
          await pair(true);
        } else {
          await pair(true);
          await pair(false);
        }
        await fs.rm(file);
      }
      const phases = Object.fromEntries(KINDS.map((k) => [k, medianPhase(runs[k])])) as Record<Kind, Phase>;
      out.push({ size, reps, phases, keygenInPublishMs });
      console.log(`  Chromium ${fmtSize(size)}: ${oneLine(size, phases)}`);
      for (const p of profiles) console.log(p);
    }
    return {
      runtime: `Chromium ${version.product.split('/')[1] ?? version.product}`,
      path: 'the web app (Upload page, Editable ticked or not; Download on the link’s file page)',
      keygenMs,
      sizes: out,
      cpuNote: 'MDMF publish CPU includes its key generation (timed in the grid worker, shown below)',
    };
  } finally {
    await chromium.close();
    await fs.rm(profileDir, { recursive: true, force: true, maxRetries: 5 });
    await fs.rm(downloads, { recursive: true, force: true });
  }
}
