/**
 * Listing a directory in Debian's Chromium (headless, playwright-core): bench/dir-page built
 * with Vite and served on 127.0.0.1, with the relay's /v1/servers proxied through the same
 * origin (the relay sends no CORS headers), so the page's worker reaches the grid as the web
 * app's grid worker does: server list from the relay, then WebSockets straight to the servers.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { onInterrupt } from './cli-grid.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

export interface Listing {
  /** Page-measured milliseconds: request posted to the worker, entries back in the page. */
  ms: number;
  /** The same inside the worker (without the trip to and from the page). */
  workerMs: number;
  /** Of workerMs, with a new Grid: server list fetched and every server connected (handshakes). */
  connectMs: number;
  count: number;
  /** Sum of the children's sizes (as their caps say). */
  bytes: number;
}

export interface DirectoryLister {
  userAgent: string;
  /** `fresh`: a new Grid in the worker (server list fetched, connections opened). */
  list(cap: string, fresh: boolean): Promise<Listing>;
  close(): Promise<void>;
}

/** Builds and serves bench/dir-page against the relay at `relayUrl`, opened in Chromium. */
export async function openLister(relayUrl: string): Promise<DirectoryLister> {
  const root = fileURLToPath(new URL('./dir-page/', import.meta.url));
  const outDir = await mkdtemp(path.join(tmpdir(), 'cairn-bench-dir-'));
  await build({
    root,
    configFile: false,
    logLevel: 'warn',
    base: './',
    build: { outDir, emptyOutDir: true, target: 'es2022', minify: true },
    worker: { format: 'es' },
  });
  const relay = new URL(relayUrl);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/v1/')) {
      const up = request(
        { host: relay.hostname, port: relay.port, path: url.pathname + url.search, method: req.method },
        (r) => {
          res.writeHead(r.statusCode ?? 502, { 'content-type': r.headers['content-type'] ?? '' });
          r.pipe(res);
        },
      );
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
      return;
    }
    const rel = decodeURIComponent(url.pathname).replace(/^\/+/, '') || 'index.html';
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
    args: ['--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const close = async () => {
    forget();
    await browser.close().catch(() => {});
    server.close();
    await rm(outDir, { recursive: true, force: true });
  };
  const forget = onInterrupt(() => {
    void browser.close().catch(() => {});
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log('console:', m.text()));
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await page.goto(`http://127.0.0.1:${port}/index.html`);
    await page.waitForFunction(() => document.title === 'ready', undefined, { timeout: 60_000 });
    const userAgent = await page.evaluate(() => navigator.userAgent);
    return {
      userAgent,
      list: (cap, fresh) =>
        page.evaluate(
          ([c, f]) =>
            (
              globalThis as unknown as { listDirectory(cap: string, fresh: boolean): Promise<Listing> }
            ).listDirectory(c, f),
          [cap, fresh] as const,
        ),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
