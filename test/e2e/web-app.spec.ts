/**
 * The web app in Chromium against `cairn grid`'s server: pages, settings, history, the
 * service worker (app shell offline, streamed downloads, pinned files offline).
 * LIT caps carry their bytes, so they exercise the whole download path without the grid.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, expect, type Page, test } from '@playwright/test';
import { startRelay } from '../../relay/relay.ts';
import { expectNoHorizontalOverflow, expectThemeColours, keepScreenshot } from './page-checks.ts';

const base = () => process.env.CAIRN_URL!;
const HELLO = 'URI:LIT:nbswy3dp'; // "hello"
// 40 bytes: "Cairn keeps this text in the cap itself."
const TEXT = 'Cairn keeps this text in the cap itself.';

function litCap(text: string): string {
  // RFC 4648 base32, lower case, no padding: what Tahoe writes in LIT caps.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of new TextEncoder().encode(text)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return `URI:LIT:${out}`;
}

async function controlled(page: Page) {
  await page.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: 20_000 });
}

async function freshApp(context: BrowserContext, hash = '#/') {
  const page = await context.newPage();
  await page.goto(base());
  await controlled(page).catch(async () => {
    await page.reload(); // first load installs the worker; it controls the page once claimed
    await controlled(page);
  });
  await page.goto(base() + hash);
  return page;
}

test('navigation reaches every page by its link', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(base());
  await expect(page.getByRole('heading', { name: 'Cairn', level: 1 })).toBeVisible();
  await expect(page.getByLabel('Choose files to upload')).toBeAttached();
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const [link, heading] of [
    ['History', 'History'],
    ['Grid', 'Grid'],
    ['Settings', 'Settings'],
    ['Upload', 'Cairn'],
  ]) {
    await nav.getByRole('link', { name: link }).click();
    await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible();
    await expect(nav.getByRole('link', { name: link })).toHaveAttribute('aria-current', 'page');
  }
  await page.goto(`${base()}#/no-such-page`);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('settings are validated with clear messages and persist', async ({ page }) => {
  await page.goto(`${base()}#/settings`);
  const k = page.getByLabel('Shares needed (k)');
  const happy = page.getByLabel('Servers required (happy)');
  const n = page.getByLabel('Total shares (N)');
  await k.fill('8');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('alert')).toContainText('Settings not saved');
  await expect(happy).toHaveAttribute('aria-invalid', 'true');
  await expect(k).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#happy-error')).toHaveText(/at least the number needed to read a file \(8\)/);
  await n.fill('300');
  await expect(page.locator('#n-error')).toHaveText('Enter a whole number from 1 to 256.');
  await page.getByLabel('Grid address').fill('ftp://nope');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.locator('#gridUrl-error')).toHaveText(/must start with http/);

  await k.fill('2');
  await happy.fill('4');
  await n.fill('6');
  await page.getByLabel('Grid address').fill('');
  await page.getByLabel('Convergent encryption').uncheck();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Settings' })).toHaveText('Settings saved.');
  await page.reload();
  await expect(page.getByLabel('Shares needed (k)')).toHaveValue('2');
  await expect(page.getByLabel('Servers required (happy)')).toHaveValue('4');
  await expect(page.getByLabel('Total shares (N)')).toHaveValue('6');
  await expect(page.getByLabel('Convergent encryption')).not.toBeChecked();
  await page.getByRole('link', { name: 'Upload' }).click();
  await expect(page.getByText('2 of 6 shares needed to read')).toBeVisible();
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Restore defaults' }).click();
  await expect(page.getByLabel('Shares needed (k)')).toHaveValue('3');
});

test('the theme can be chosen and is remembered; the system theme is followed by default', async ({
  browser,
}) => {
  const context = await browser.newContext({ colorScheme: 'dark' });
  const page = await context.newPage();
  await page.goto(base());
  const bg = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  expect(await bg()).toBe('rgb(21, 24, 22)');
  await page.getByLabel('Theme').selectOption('light');
  expect(await bg()).toBe('rgb(246, 244, 239)');
  await page.reload();
  await expect(page.getByLabel('Theme')).toHaveValue('light');
  expect(await bg()).toBe('rgb(246, 244, 239)');
  await context.close();
});

test('the upload page works from the keyboard', async ({ page }) => {
  await page.goto(base());
  await expect(page.getByLabel('Choose files to upload')).toBeAttached();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('main')).toBeFocused();
  // From the main region, Tab reaches the file input (inside the drop zone) and Space opens the chooser.
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Choose files to upload')).toBeFocused();
  const outline = await page.locator('label.file-button').evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).toBe('solid'); // focus is visible on the button-styled label
  // Chromium sometimes drops the chooser request under heavy load: press again, a bounded few times.
  let chooser: import('@playwright/test').FileChooser | undefined;
  for (let attempt = 0; attempt < 3 && !chooser; attempt++) {
    const waiting = page.waitForEvent('filechooser', { timeout: 10_000 }).catch(() => undefined);
    await page.keyboard.press('Space');
    chooser = await waiting;
  }
  expect(chooser?.isMultiple()).toBe(true);
});

test('a bad cap gets a clear message that does not echo it', async ({ page }) => {
  await page.goto(`${base()}#/file/URI:CHK:notbase32!:x:3:10:100`);
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('This link does not lead to a file: part of it is missing or mistyped.');
  await expect(alert).not.toContainText('notbase32');
});

test('opening a cap shows its size; Download streams through the service worker', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await freshApp(context, `#/file/${litCap(TEXT)}`);
  await expect(page.getByText(`${TEXT.length} bytes`)).toBeVisible();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  expect(download.url()).toMatch(/\/_cairn\/download\/[0-9a-f]{32}$/);
  expect(await readFile((await download.path())!, 'utf8')).toBe(TEXT);
  // The visit is remembered in history.
  await page.getByRole('link', { name: 'History' }).click();
  await expect(page.getByRole('link', { name: 'Unnamed file' })).toBeVisible();
  await context.close();
});

test('a pinned file opens and downloads with the network off', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await freshApp(context, `#/file/${HELLO}`);
  await page.getByRole('button', { name: 'Pin for offline use' }).click();
  const pinned = page.getByRole('button', { name: 'Pinned for offline use' });
  await expect(pinned).toHaveAttribute('aria-pressed', 'true');
  await expect(pinned).toBeEnabled(); // the copy is written (the button is busy until then)
  // The cap is kept only in IndexedDB: not in localStorage, not in any cached URL or header.
  const leaks = await page.evaluate(async (cap) => {
    const found: string[] = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i)!;
      if (`${k}=${localStorage.getItem(k)}`.includes(cap)) found.push(`localStorage ${k}`);
    }
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        if (decodeURIComponent(req.url).includes(cap)) found.push(`cache ${name}`);
        const res = await cache.match(req);
        if (res && JSON.stringify([...res.headers]).includes(cap)) found.push(`cache headers ${name}`);
      }
    }
    return found;
  }, HELLO);
  expect(leaks).toEqual([]);

  await context.setOffline(true);
  await page.goto(`${base()}#/history`);
  await page.reload(); // a real offline start: the page itself comes from the app shell cache
  await expect(page.getByRole('heading', { name: 'History' })).toBeVisible();
  await expect(page.getByText('Pinned', { exact: true })).toBeVisible();
  await page.getByRole('link', { name: 'Unnamed file' }).click();
  await expect(page.getByText('pinned: readable without a network')).toBeVisible();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  expect(await readFile((await download.path())!, 'utf8')).toBe('hello');
  await context.setOffline(false);

  // Unpin, then forget: both stick across a reload.
  await page.getByRole('button', { name: 'Pinned for offline use' }).click();
  await expect(page.getByRole('button', { name: 'Pin for offline use' })).toBeEnabled();
  await page.goto(`${base()}#/history`);
  await page.getByRole('button', { name: 'Forget Unnamed file' }).click();
  await page.getByRole('button', { name: 'Forget it' }).click();
  await expect(page.getByText('Nothing yet.')).toBeVisible();
  await expect(page.getByRole('status')).toHaveText('Forgotten: Unnamed file.'); // stored, not just shown
  await page.reload();
  await expect(page.getByText('Nothing yet.')).toBeVisible();
  await context.close();
});

test('the app installs: manifest, icons, and a service worker that caches the shell', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await freshApp(context);
  const manifest = await (await page.request.get(`${base()}manifest.webmanifest`)).json();
  expect(manifest.name).toBe('Cairn');
  const icons: { src: string; sizes: string; type: string }[] = manifest.icons;
  // What installing needs: PNG icons of 192 and 512 px; each one is served with its type.
  expect(icons.filter((i) => i.type === 'image/png').map((i) => i.sizes)).toEqual(
    expect.arrayContaining(['192x192', '512x512']),
  );
  for (const icon of icons) {
    const res = await page.request.get(new URL(icon.src, base()).href);
    expect(res.ok(), icon.src).toBe(true);
    expect(res.headers()['content-type'], icon.src).toContain(icon.type);
  }
  const cached = await page.evaluate(async () => {
    const names = await caches.keys();
    const shell = names.find((n) => n.startsWith('cairn-shell-'));
    const keys = shell ? await (await caches.open(shell)).keys() : [];
    return keys.map((r) => new URL(r.url).pathname);
  });
  expect(cached).toContain('/index.html');
  expect(cached).toContain('/manifest.webmanifest');
  expect(cached.some((p) => p.endsWith('.js'))).toBe(true);
  await context.close();
});

test('every page in both themes and at phone width: its content, the theme, no sideways overflow (screenshots kept)', async ({
  browser,
}, testInfo) => {
  const cap = litCap(TEXT);
  const nav = (page: Page) => page.getByRole('navigation', { name: 'Main' });
  /** Each page, in an order where history has the visit of the file page to show. */
  const pages: [name: string, hash: string, check: (page: Page) => Promise<void>, title: string][] = [
    [
      'home',
      '#/',
      async (page) => {
        await expect(page.getByRole('heading', { level: 1 })).toHaveText('Cairn');
        await expect(nav(page).getByRole('link', { name: 'Upload' })).toHaveAttribute('aria-current', 'page');
        await expect(page.getByRole('region', { name: 'Drop files here to upload them' })).toBeVisible();
        await expect(page.getByText('Choose files to upload')).toBeVisible();
        await expect(page.getByLabel('Choose files to upload')).toBeEnabled();
        await expect(
          page.getByText('3 of 10 shares needed to read; at least 7 servers must take them.'),
        ).toBeVisible();
        await expect(page.getByText('Convergent encryption on.')).toBeVisible();
      },
      'Upload — Cairn',
    ],
    [
      'settings',
      '#/settings',
      async (page) => {
        await expect(page.getByRole('heading', { level: 1 })).toHaveText('Settings');
        await expect(nav(page).getByRole('link', { name: 'Settings' })).toHaveAttribute(
          'aria-current',
          'page',
        );
        for (const [label, value] of [
          ['Shares needed (k)', '3'],
          ['Servers required (happy)', '7'],
          ['Total shares (N)', '10'],
          ['Grid address', ''],
        ]) {
          const field = page.getByLabel(label, { exact: true });
          await expect(field).toBeEditable();
          await expect(field).toHaveValue(value);
          await expect(field).not.toHaveAttribute('aria-invalid', 'true');
        }
        await expect(page.getByLabel('Convergent encryption')).toBeChecked();
        await expect(page.getByRole('button', { name: 'Save settings' })).toBeEnabled();
        await expect(page.getByRole('button', { name: 'Restore defaults' })).toBeEnabled();
      },
      'Settings — Cairn',
    ],
    [
      'file',
      `#/file/${cap}`,
      async (page) => {
        await expect(page.getByRole('heading', { level: 1 })).toHaveText('Shared file');
        await expect(nav(page).locator('a[aria-current]')).toHaveCount(0);
        await expect(page.getByText(`40 B (${TEXT.length} bytes)`)).toBeVisible();
        await expect(page.getByText('not known: this link does not carry one')).toBeVisible();
        await expect(page.getByText('not pinned')).toBeVisible();
        await expect(page.getByRole('button', { name: 'Download' })).toBeEnabled();
        await expect(page.getByRole('button', { name: 'Pin for offline use' })).toBeEnabled();
        await page.getByText('Link and capabilities').click();
        await expect(page.getByLabel('Read cap', { exact: true })).toHaveValue(cap);
        await expect(page.getByLabel('Link', { exact: true })).toHaveValue(`${base()}#/file/${cap}`);
        await expect(page.getByRole('button', { name: 'Copy link to this file' })).toBeEnabled();
      },
      'Shared file — Cairn',
    ],
    [
      'history',
      '#/history',
      async (page) => {
        await expect(page.getByRole('heading', { level: 1 })).toHaveText('History');
        await expect(nav(page).getByRole('link', { name: 'History' })).toHaveAttribute(
          'aria-current',
          'page',
        );
        const item = page
          .getByRole('listitem')
          .filter({ has: page.getByRole('link', { name: 'Unnamed file' }) });
        await expect(item).toHaveCount(1);
        await expect(item).toContainText('40 B · opened');
        await expect(item.getByRole('button', { name: 'Pin for offline use: Unnamed file' })).toBeEnabled();
        await expect(item.getByRole('button', { name: 'Forget Unnamed file' })).toBeEnabled();
      },
      'History — Cairn',
    ],
    [
      'grid',
      '#/grid',
      async (page) => {
        await expect(page.getByRole('heading', { level: 1 })).toHaveText('Grid');
        await expect(nav(page).getByRole('link', { name: 'Grid' })).toHaveAttribute('aria-current', 'page');
        const ws = base().replace(/^http/, 'ws');
        await expect(page.getByText(`Grid at ${ws}`)).toBeVisible();
        await expect(page.getByRole('status')).toHaveText(/^10 of 10 servers connected/, { timeout: 30_000 });
        await expect(page.getByRole('rowheader')).toHaveCount(10);
      },
      'Grid — Cairn',
    ],
  ];
  for (const colorScheme of ['light', 'dark'] as const) {
    for (const viewport of [
      { width: 1100, height: 800 },
      { width: 375, height: 740 },
    ]) {
      const context = await browser.newContext({ colorScheme, viewport });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      for (const [name, hash, check, title] of pages) {
        await test.step(`${name}, ${colorScheme}, ${viewport.width} px`, async () => {
          await page.goto(base() + hash);
          await expect(page).toHaveTitle(title);
          await check(page);
          for (const link of ['Upload', 'History', 'Grid', 'Settings']) {
            await expect(nav(page).getByRole('link', { name: link })).toBeVisible();
          }
          await expectThemeColours(page, colorScheme);
          await expectNoHorizontalOverflow(page);
          await keepScreenshot(page, testInfo, `${name}-${colorScheme}-${viewport.width}`);
        });
      }
      expect(errors).toEqual([]);
      await context.close();
    }
  }
});

test('a new release is picked up on the next load, and the old shell cache is dropped', async ({
  browser,
}) => {
  // A copy of the bundle on its own relay, so the test can "deploy" a new release into it.
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-release-'));
  await cp('dist/web', root, { recursive: true });
  const relay = await startRelay({ port: 0, webRoot: root });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${relay.url}/`);
    await controlled(page);
    const shells = () =>
      page.evaluate(async () => (await caches.keys()).filter((n) => n.startsWith('cairn-shell-')));
    const [v1] = await shells();
    expect(v1).toMatch(/^cairn-shell-[0-9a-f]{16}$/);

    // Release 2: a changed page, and the service worker a build of it would have (new version).
    const html = await readFile(path.join(root, 'index.html'), 'utf8');
    await writeFile(
      path.join(root, 'index.html'),
      html.replace('<title>', '<meta name="release" content="2" /><title>'),
    );
    const sw = await readFile(path.join(root, 'sw.js'), 'utf8');
    const oldVersion = v1.slice('cairn-shell-'.length);
    expect(sw).toContain(oldVersion);
    await writeFile(path.join(root, 'sw.js'), sw.replace(oldVersion, 'f'.repeat(16)));

    await page.reload();
    await expect(page.locator('meta[name="release"]')).toHaveAttribute('content', '2');
    await expect.poll(shells, { timeout: 20_000 }).toEqual([`cairn-shell-${'f'.repeat(16)}`]);
    // The new release's shell now starts offline.
    await context.setOffline(true);
    await page.reload();
    await expect(page.locator('meta[name="release"]')).toHaveAttribute('content', '2');
    await expect(page.getByRole('heading', { name: 'Cairn', level: 1 })).toBeVisible();
  } finally {
    await context.close();
    await relay.close();
    await rm(root, { recursive: true, force: true });
  }
});
