/**
 * Builds bench/chk-page with Vite, serves it on 127.0.0.1 (ephemeral port) and runs it in
 * Debian's Chromium (headless, playwright-core): the same measurements as in Node, on the
 * main thread and with two workers.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import {
  type ChkBenchSetup,
  type ChkFigures,
  formatFigures,
  formatStages,
  type StageFigures,
} from './chk-measure.ts';

interface BenchResult {
  userAgent: string;
  variant: string;
  workerVariants: string[];
  rows: ChkFigures[];
  stages: StageFigures;
  webCryptoAlone: { sha: number[]; aes: number[]; workers: number; hashed: number; ceiling: number };
}
interface BenchWindow {
  runChkBench(setup: ChkBenchSetup, workers: number): Promise<BenchResult>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

/** Builds and serves bench/chk-page, opens it in headless Chromium and runs `fn` on it. */
export async function withChkPage<T>(
  fn: (page: Page, browser: Browser) => Promise<T>,
  extraArgs: string[] = [],
): Promise<T> {
  const root = fileURLToPath(new URL('./chk-page/', import.meta.url));
  const outDir = await mkdtemp(path.join(tmpdir(), 'cairn-bench-chk-'));
  await build({
    root,
    configFile: false,
    logLevel: 'warn',
    base: './',
    build: { outDir, emptyOutDir: true, target: 'esnext', minify: false },
    worker: { format: 'es' },
  });
  const server = createServer(async (req, res) => {
    const rel =
      decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.join(outDir, rel);
    if (!file.startsWith(outDir) || !(await stat(file).catch(() => null))?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--disable-gpu', '--no-first-run', '--disable-background-networking', ...extraArgs],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await page.goto(`http://127.0.0.1:${port}/index.html`);
    await page.waitForFunction(() => document.title === 'ready');
    return await fn(page, browser);
  } finally {
    await browser.close();
    server.close();
    await rm(outDir, { recursive: true, force: true });
  }
}

export async function runBrowserBench(setup: ChkBenchSetup, workers = 2): Promise<void> {
  await withChkPage(async (page) => {
    const result: BenchResult = await page.evaluate(
      ([s, w]) => (globalThis as unknown as BenchWindow).runChkBench(s, w),
      [setup, workers] as const,
    );
    const version = /Chrome\/(\S+)/.exec(result.userAgent)?.[1] ?? '?';
    console.log(
      `\nChromium ${version}, WebCrypto, codec ${result.variant} (workers: ${result.workerVariants.join(', ')})`,
    );
    console.log(formatFigures(result.rows));
    console.log(`\n${formatStages('Chromium stages (main thread, one stage at a time):', result.stages)}`);
    const c = result.webCryptoAlone;
    console.log(
      `\nChromium's WebCrypto alone, 8 calls in flight per worker, 1 worker / ${c.workers} workers:\n` +
        `  SHA-256 over blocks ${c.sha.map((x) => x.toFixed(0)).join(' / ')} MB/s, AES-CTR over segments ${c.aes.map((x) => x.toFixed(0)).join(' / ')} MB/s\n` +
        `  encode bound by WebCrypto alone (${c.hashed.toFixed(2)} B hashed + 1 B encrypted per plaintext B): ${c.ceiling.toFixed(0)} MB/s`,
    );
    const two = result.rows[1];
    console.log(
      `\nGoal with ${workers} workers: encode >= 240 MB/s (median ${two.encodeRandomKey.median.toFixed(0)} random key, ` +
        `${two.encodeConvergent.median.toFixed(0)} convergent), decode >= 300 MB/s (median ${two.decodeWorst.median.toFixed(0)} worst case)`,
    );
  });
}
