/**
 * What the web app's e2e specs share: opening the app in a fresh context, waiting for an
 * upload's link, reading a link's cap, test bytes, and a recorder of everything a context
 * sends or receives (for the privacy checks: no cap, key, name or plaintext may be in it).
 */
import { type Browser, type BrowserContext, expect, type Page, type Request } from '@playwright/test';

export const MiB = 1024 * 1024;

/** A fresh context (nothing stored) on `url`, once the service worker controls the page. */
export async function openApp(
  browser: Browser,
  url: string,
  options: Parameters<Browser['newContext']>[0] = {},
  /** Runs on the page before it loads (e.g. to listen to its WebSockets from the start). */
  before?: (page: Page) => void,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  const page = await context.newPage();
  before?.(page);
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });
  return { context, page };
}

/** Waits for one upload card to finish; returns its link's href. */
export async function uploadedLink(page: Page, name: string, timeout = 120_000): Promise<string> {
  const card = page.getByRole('listitem', { name: `Upload of ${name}` });
  const link = card.getByRole('link', { name: `Open ${name}` });
  await expect(link).toBeVisible({ timeout });
  return (await link.getAttribute('href'))!;
}

/** The cap in a file link (the name, type and grid it may carry follow a `?`). */
export const capOf = (href: string) =>
  decodeURIComponent(new URL(href).hash.replace(/^#\/file\//, '').split('?')[0]);

/** Deterministic pseudo-random bytes (xorshift32). */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  return out;
}

export interface Seen {
  where: string;
  text: string;
  bytes?: Buffer;
}

/**
 * Records every request (URL, headers as sent, body) of `context` and every WebSocket URL
 * and frame of `page` (its workers' too). Call before the page loads; `settle()` waits for
 * the header reads before the record is checked.
 */
export function recordTraffic(
  context: BrowserContext,
  page: Page,
): { seen: Seen[]; settle(): Promise<void> } {
  const seen: Seen[] = [];
  const reads: Promise<void>[] = [];
  context.on('request', (r: Request) => {
    const check = (h: Record<string, string>) => {
      seen.push({ where: `request ${r.url()}`, text: `${r.url()}\n${JSON.stringify(h)}` });
      if (h.referer) seen.push({ where: `referer of ${r.url()}`, text: `referer: ${h.referer}` });
    };
    reads.push(r.allHeaders().then(check, () => check(r.headers())));
    const body = r.postDataBuffer();
    if (body) seen.push({ where: `body of ${r.url()}`, text: body.toString('latin1'), bytes: body });
  });
  page.on('websocket', (ws) => {
    seen.push({ where: 'websocket url', text: ws.url() });
    const frame = (f: { payload: string | Buffer }) => {
      const bytes = typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload;
      seen.push({ where: `frame on ${ws.url()}`, text: bytes.toString('latin1'), bytes });
    };
    ws.on('framesent', frame);
    ws.on('framereceived', frame);
  });
  return { seen, settle: () => Promise.all(reads).then(() => {}) };
}
