/**
 * Serves the web app's static bundle. Caps live in the URL fragment, which browsers
 * never send, so this handler only ever sees paths of the bundle itself. Headers keep
 * the page from leaking anything: no Referer, and connections only back to this origin
 * (the grid's relay) unless the CSP is widened by the caller.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Hono } from 'hono';
import type { HttpKit } from '../server/http-kit.ts';

export interface StaticOptions {
  /** Folder holding index.html and assets (vite's outDir). */
  root: string;
  /**
   * Extra origins the page may connect to (ws:// or http:// URLs of storage servers); a
   * function is asked again for every response (the relay's list of servers changes).
   */
  connectSrc?: string[] | (() => string[]);
}

export function contentSecurityPolicy(connectSrc: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "worker-src 'self' blob:",
    `connect-src 'self' ${connectSrc.join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function staticApp(kit: HttpKit, opts: StaticOptions): Hono {
  const root = path.resolve(opts.root);
  if (!existsSync(path.join(root, 'index.html'))) {
    throw new Error(`no web bundle at ${root} (run 'npm run build' first)`);
  }
  const app = new kit.Hono();
  const connectSrc = opts.connectSrc;
  const fixed = typeof connectSrc === 'function' ? null : contentSecurityPolicy(connectSrc);
  app.use('*', async (c, next) => {
    await next();
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Content-Security-Policy', fixed ?? contentSecurityPolicy((connectSrc as () => string[])()));
    c.header('X-Content-Type-Options', 'nosniff');
  });
  app.use('*', kit.serveStatic({ root: path.relative(process.cwd(), root) || '.' }));
  return app;
}
