/**
 * The codec bench in Chromium: builds bench/codec-page with Vite (the same bundling the
 * app gets: wasm assets via new URL(…, import.meta.url), a module worker), serves it from
 * 127.0.0.1 with the relay's static handler (same CSP), opens it in Debian's Chromium
 * through Playwright and prints the figures next to python3-zfec's.
 * Run alone: `npx tsx bench/codec-browser.ts`; `npm run bench:codec` runs it after Node's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { serve } from '@hono/node-server';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { staticApp } from '../relay/static.ts';
import { loadHttpKit } from '../server/http-kit.ts';
import { type Figure, measureZfec, printTable, REPS } from './codec-common.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export interface PageResult {
  error?: string;
  userAgent: string;
  cores: number;
  variants: string[];
  auto: string;
  problems: string[];
  page: Figure[];
  workers: Figure[];
}

/**
 * Builds the bench page with Vite, serves it on 127.0.0.1 (port 0) with the relay's static
 * handler, opens `index.html?QUERY` in Chromium and returns what the page reports.
 * Throws on page errors and on any codec output that differs from zfec's.
 */
export async function runBenchPage(query: string, timeoutMs = 300_000): Promise<PageResult> {
  const outDir = await mkdtemp(path.join(tmpdir(), 'cairn-codec-bench-'));
  let server: ReturnType<typeof serve> | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    await build({
      configFile: false,
      root: here('./codec-page'),
      base: './',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, target: 'es2022' },
      worker: { format: 'es' },
    });
    const kit = await loadHttpKit();
    const app = staticApp(kit, { root: outDir });
    const s = kit.serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    server = s;
    await new Promise<void>((resolve, reject) => {
      s.once('listening', resolve);
      s.once('error', reject);
    });
    const address = s.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: [
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
      ],
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/index.html?${query}`);
    await page.waitForFunction(() => (window as { codecBench?: unknown }).codecBench !== undefined, null, {
      timeout: timeoutMs,
    });
    const result = (await page.evaluate(() => (window as { codecBench?: unknown }).codecBench)) as PageResult;
    if (result.error) throw new Error(`bench page failed: ${result.error}`);
    if (errors.length > 0) throw new Error(`bench page errors: ${errors.join('; ')}`);
    if (result.problems.length > 0) {
      throw new Error(`codec output wrong in the browser: ${result.problems.join('; ')}`);
    }
    return result;
  } finally {
    await browser?.close();
    server?.close();
    await rm(outDir, { recursive: true, force: true });
  }
}

export async function runBrowserBench(zfecFigures?: Figure[]): Promise<void> {
  const zfec = zfecFigures ?? (await measureZfec());
  const result = await runBenchPage(`reps=${REPS}`);
  const version = result.userAgent.match(/Chrome\/([\d.]+)/)?.[1] ?? result.userAgent;
  printTable(
    `Chromium ${version} (${result.cores} cores; builds ${result.variants.join(', ')}; auto picks ${result.auto}): ` +
      `MB/s of input, median of ${REPS}; 2-worker rows are aggregate encode`,
    [...result.page, ...result.workers],
    zfec,
  );
  console.log('browser check: page and worker outputs match zfec known answers and the scalar build');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runBrowserBench();
