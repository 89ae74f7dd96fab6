/**
 * Listing a directory in the web app's folder page, in Debian's Chromium (headless,
 * playwright-core): the app as `cairn grid` serves it (dist/web, from `npm run build`), a
 * folder opened at `#/dir/<cap>`, timed until its table holds every child (one row each,
 * rendered). Two ways:
 *  - `open`: the app already running (its grid worker connected), the folder opened from
 *    another page of the app, as following a folder link does; timed in the page from the
 *    hash change to the last row in the DOM;
 *  - `cold`: a new browser context (no cache, no IndexedDB) loading `<grid>/#/dir/<cap>`;
 *    timed from the navigation's start (page load, scripts, the grid worker connecting to
 *    every server, the listing) to the last row in the DOM.
 */
import { chromium, type Page } from 'playwright-core';
import { onInterrupt } from './cli-grid.ts';

export interface DirectoryLister {
  userAgent: string;
  /** Milliseconds until the folder page shows `count` rows (fails on another count or an error). */
  list(cap: string, count: number, how: 'open' | 'cold'): Promise<number>;
  close(): Promise<void>;
}

/**
 * In the page, polled every frame: performance.now() once the listing holds `count` rows,
 * the folder page's error if it shows one, else false (not yet).
 */
function shownAt(count: number): number | { error: string } | false {
  const rows = document.querySelectorAll('table.listing tbody tr').length;
  if (rows === count) return performance.now();
  const error = document.querySelector('section.dir p.error')?.textContent?.trim();
  if (error) return { error };
  if (rows > count) return { error: `${rows} rows, not ${count}` };
  return false;
}

async function waitShown(page: Page, count: number): Promise<number> {
  const handle = await page.waitForFunction(shownAt, count, { polling: 'raf', timeout: 120_000 });
  const at = (await handle.jsonValue()) as number | { error: string };
  if (typeof at !== 'number') throw new Error(`the folder page says: ${at.error}`);
  return at;
}

/** Opens Chromium on the web app served at `gridUrl` (the relay of `cairn grid`). */
export async function openLister(gridUrl: string): Promise<DirectoryLister> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const forget = onInterrupt(() => {
    void browser.close().catch(() => {});
  });
  const close = async () => {
    forget();
    await browser.close().catch(() => {});
  };
  try {
    const app = await browser.newPage();
    app.on('pageerror', (err) => console.error('page error:', err.message));
    const res = await app.goto(`${gridUrl}/#/settings`);
    if (!res?.ok() || (await app.title()) === '')
      throw new Error(`no web app at ${gridUrl} (run npm run build first)`);
    const userAgent = await app.evaluate(() => navigator.userAgent);
    return {
      userAgent,
      async list(cap, count, how) {
        if (how === 'open') {
          await app.evaluate(() => {
            location.hash = '#/settings';
          });
          await app.waitForFunction(() => document.querySelector('table.listing') === null);
          const t0 = await app.evaluate((c) => {
            const t = performance.now();
            location.hash = `#/dir/${c}`;
            return t;
          }, cap);
          return (await waitShown(app, count)) - t0;
        }
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          await page.goto(`${gridUrl}/#/dir/${cap}`, { waitUntil: 'commit' });
          return await waitShown(page, count); // performance.now() counts from the navigation's start
        } finally {
          await context.close();
        }
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
