/**
 * Uploads and downloads through a real local grid (relay + 10 storage servers), in
 * Chromium: file input and drag-and-drop, download in a fresh browser context with byte
 * comparison, survival with 7 of 10 servers gone, the unhappy-grid message, and a
 * privacy check over every request and WebSocket frame the page and its workers make.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { base32Decode } from '../../core/primitives/base32.ts';
import { expectNoHorizontalOverflow, expectThemeColours, keepScreenshot } from './page-checks.ts';
import { startWebGrid } from './web-grid.ts';

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32), reproducible in Node and in the page. */
function patternBytes(size: number, seed: number): Uint8Array {
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
/** A mono 16-bit PCM WAV of a 440 Hz tone. */
function toneWav(seconds: number, rate: number): Buffer {
  const samples = seconds * rate;
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++)
    b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return b;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function openApp(browser: Browser, url: string) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });
  return { context, page };
}

/** Waits for one upload card to finish; returns the link's href. */
async function uploadedLink(page: Page, name: string): Promise<string> {
  const card = page.getByRole('listitem', { name: `Upload of ${name}` });
  const link = card.getByRole('link', { name: `Open ${name}` });
  await expect(link).toBeVisible({ timeout: 120_000 });
  return (await link.getAttribute('href'))!;
}

/** The cap in a file link (before the name and type it may carry). */
const capOf = (href: string) =>
  decodeURIComponent(new URL(href).hash.replace(/^#\/file\//, '').split('?')[0]);

/** Opens `href` in a fresh context (no history, no shared storage), downloads, returns the bytes. */
async function downloadInFreshContext(browser: Browser, gridUrl: string, href: string): Promise<Buffer> {
  const { context, page } = await openApp(browser, gridUrl);
  await page.goto(href);
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 120_000 }),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  const bytes = await readFile((await download.path())!);
  await expect(page.getByText('Download complete: every byte was verified.')).toBeVisible();
  await context.close();
  return bytes;
}

// `npm start`'s grid (`cairn grid`, started by global-setup.ts): relay + 10 server processes.
test.describe('a healthy grid', () => {
  const grid = { url: '' };
  test.beforeAll(() => {
    grid.url = process.env.CAIRN_URL!;
  });

  test('upload 25 MiB through the file input; a fresh browser downloads the same bytes', async ({
    browser,
  }) => {
    const data = patternBytes(25 * MiB, 1);
    const { context, page } = await openApp(browser, grid.url);
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'big.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(data),
    });
    const href = await uploadedLink(page, 'big.bin');
    const link = new URL(href);
    expect(link.origin + link.pathname).toBe(grid.url);
    expect(link.search).toBe('');
    const cap = capOf(href);
    expect(cap).toMatch(/^URI:CHK:[a-z2-7]+:[a-z2-7]+:3:10:26214400$/);
    expect(link.hash).toBe(`#/file/${cap}?name=big.bin`);
    await expect(page.getByLabel('Read cap', { exact: true })).toHaveValue(cap);
    await expect(page.getByLabel('Verify cap', { exact: true })).toHaveValue(
      /^URI:CHK-Verifier:[a-z2-7]+:[a-z2-7]+:3:10:26214400$/,
    );
    // Both progress bars end full.
    const card = page.getByRole('listitem', { name: 'Upload of big.bin' });
    await expect(card).toContainText('Stored.');
    // The upload is in history, by name.
    await page.getByRole('link', { name: 'History' }).click();
    await expect(page.getByRole('link', { name: 'big.bin' })).toBeVisible();
    await context.close();

    const got = await downloadInFreshContext(browser, grid.url, href);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
  });

  test('drag and drop several files at once', async ({ browser }) => {
    const { context, page } = await openApp(browser, grid.url);
    const dataTransfer = await page.evaluateHandle(
      ({ size, source }) => {
        const make = new Function(`return ${source}`)() as (n: number, s: number) => Uint8Array;
        const dt = new DataTransfer();
        dt.items.add(new File([make(size, 2) as BlobPart], 'dropped-big.bin'));
        dt.items.add(new File([make(70_000, 3) as BlobPart], 'dropped-small.bin'));
        return dt;
      },
      { size: 25 * MiB, source: patternBytes.toString() },
    );
    const zone = page.getByRole('region', { name: 'Drop files here to upload them' });
    await zone.dispatchEvent('dragenter', { dataTransfer });
    await zone.dispatchEvent('drop', { dataTransfer });
    const big = await uploadedLink(page, 'dropped-big.bin');
    const small = await uploadedLink(page, 'dropped-small.bin');
    await context.close();
    expect(sha(await downloadInFreshContext(browser, grid.url, small))).toBe(sha(patternBytes(70_000, 3)));
    expect(sha(await downloadInFreshContext(browser, grid.url, big))).toBe(sha(patternBytes(25 * MiB, 2)));
  });

  test('media files preview in the page, with range reads for seeking', async ({ browser }) => {
    const { context, page } = await openApp(browser, grid.url);
    const wav = toneWav(10, 8000);
    const png = await readFile('web/public/icons/icon-512.png');
    await page.getByLabel('Choose files to upload').setInputFiles([
      { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav },
      { name: 'icon.png', mimeType: 'image/png', buffer: png },
    ]);
    const audioHref = await uploadedLink(page, 'tone.wav');
    const imageHref = await uploadedLink(page, 'icon.png');

    await page.goto(audioHref);
    await expect(page.getByRole('heading', { name: 'tone.wav' })).toBeVisible();
    // Media previews show by themselves (streamed as played).
    const audio = page.getByLabel('Preview of tone.wav');
    await expect(audio).toBeVisible();
    await expect
      .poll(() => audio.evaluate((a: HTMLAudioElement) => a.duration), { timeout: 20_000 })
      .toBeCloseTo(10, 1);
    await audio.evaluate(
      (a: HTMLAudioElement) =>
        new Promise<void>((resolve) => {
          a.addEventListener('seeked', () => resolve(), { once: true });
          a.currentTime = 8;
        }),
    );
    // The preview URL answers byte ranges itself (this is what seeking uses).
    const part = await audio.evaluate(async (a: HTMLAudioElement) => {
      const res = await fetch(a.src, { headers: { Range: 'bytes=1000-1999' } });
      return {
        status: res.status,
        range: res.headers.get('Content-Range'),
        bytes: Array.from(new Uint8Array(await res.arrayBuffer())),
      };
    });
    expect(part.status).toBe(206);
    expect(part.range).toBe(`bytes 1000-1999/${wav.length}`);
    expect(Buffer.from(part.bytes).equals(wav.subarray(1000, 2000))).toBe(true);
    expect(new URL((await audio.getAttribute('src')) as string).pathname).toMatch(
      /^\/_cairn\/media\/[0-9a-f]{32}$/,
    );

    await page.goto(imageHref);
    const img = page.getByRole('img', { name: 'Preview of icon.png' });
    await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(512);
    await context.close();
  });

  test('an upload, its file page and history in both themes and at phone width: content, theme, no sideways overflow (screenshots kept)', async ({
    browser,
  }, testInfo) => {
    const size = 1024 * 1024;
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const width of [1100, 375]) {
        await test.step(`${colorScheme}, ${width} px`, async () => {
          const context = await browser.newContext({
            colorScheme,
            viewport: { width, height: 800 },
            locale: 'en-US',
          });
          const page = await context.newPage();
          const name = `holiday photos ${colorScheme} ${width}.zip`;
          await page.goto(grid.url);
          await page.getByLabel('Choose files to upload').setInputFiles({
            name,
            mimeType: 'application/zip',
            buffer: Buffer.from(patternBytes(size, width)),
          });
          // The finished upload: its link (the longest line on any page), caps, actions.
          const href = await uploadedLink(page, name);
          const cap = capOf(href);
          expect(cap).toMatch(new RegExp(`^URI:CHK:[a-z2-7]+:[a-z2-7]+:3:10:${size}$`));
          const card = page.getByRole('listitem', { name: `Upload of ${name}` });
          await expect(card).toContainText('Stored.');
          await expect(card).toContainText('1.0 MiB');
          await expect(card.getByRole('link', { name: `Open ${name}` })).toHaveText('Open');
          await expect(card.getByLabel('Link', { exact: true })).toHaveValue(href);
          await expect(card.getByRole('button', { name: `Copy link to ${name}` })).toBeEnabled();
          await expect(card.getByRole('button', { name: `Dismiss ${name}` })).toBeEnabled();
          await card.getByText('Capabilities').click();
          await expect(card.getByLabel('Read cap', { exact: true })).toHaveValue(cap);
          await expect(card.getByLabel('Verify cap', { exact: true })).toHaveValue(
            new RegExp(`^URI:CHK-Verifier:[a-z2-7]+:[a-z2-7]+:3:10:${size}$`),
          );
          await expectThemeColours(page, colorScheme);
          await expectNoHorizontalOverflow(page);
          await keepScreenshot(page, testInfo, `uploaded-${colorScheme}-${width}`);

          // Its file page knows the name from this browser's history.
          await page.goto(href);
          await expect(page.getByRole('heading', { level: 1 })).toHaveText(name);
          await expect(page.getByText('1.0 MiB (1,048,576 bytes)')).toBeVisible();
          await expect(page.getByText('not known: this link does not carry one')).toHaveCount(0);
          await expect(page.getByText('not pinned')).toBeVisible();
          await expect(page.getByRole('button', { name: 'Download' })).toBeEnabled();
          await expect(page.getByRole('button', { name: 'Pin for offline use' })).toBeEnabled();
          await expectThemeColours(page, colorScheme);
          await expectNoHorizontalOverflow(page);
          await keepScreenshot(page, testInfo, `file-named-${colorScheme}-${width}`);

          // History lists it by name, as uploaded.
          await page.goto(`${grid.url}#/history`);
          await expect(page.getByRole('heading', { level: 1 })).toHaveText('History');
          const item = page.getByRole('listitem').filter({ has: page.getByRole('link', { name }) });
          await expect(item).toHaveCount(1);
          await expect(item).toContainText('1.0 MiB · uploaded');
          await expect(item.getByRole('button', { name: `Pin for offline use: ${name}` })).toBeEnabled();
          await expect(item.getByRole('button', { name: `Forget ${name}` })).toBeEnabled();
          await expectThemeColours(page, colorScheme);
          await expectNoHorizontalOverflow(page);
          await keepScreenshot(page, testInfo, `history-full-${colorScheme}-${width}`);
          await context.close();
        });
      }
    }
  });

  test('a file pinned from the grid opens and downloads with the network off', async ({ browser }) => {
    const data = patternBytes(2 * MiB + 99, 8);
    const up = await openApp(browser, grid.url);
    await up.page.getByLabel('Choose files to upload').setInputFiles({
      name: 'offline.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(data),
    });
    const href = await uploadedLink(up.page, 'offline.bin');
    await up.context.close();

    // Another browser opens the link, pins it (the grid worker fetches it into Cache Storage)...
    const { context, page } = await openApp(browser, grid.url);
    await page.goto(href);
    await page.getByRole('button', { name: 'Pin for offline use' }).click();
    const pinned = page.getByRole('button', { name: 'Pinned for offline use' });
    await expect(pinned).toBeEnabled({ timeout: 60_000 });
    await expect(pinned).toHaveAttribute('aria-pressed', 'true');
    // ...and reads it with the network off, from a cold start.
    await context.setOffline(true);
    await page.reload();
    await expect(page.getByText('pinned: readable without a network')).toBeVisible();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(sha(await readFile((await download.path())!))).toBe(sha(data));
    await context.close();
  });

  test('cancel stops an upload', async ({ browser }) => {
    const { context, page } = await openApp(browser, grid.url);
    // Big enough to be still running when Cancel is pressed (a sparse file: no disk cost).
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-cancel-'));
    const file = path.join(dir, 'cancelled.bin');
    await writeFile(file, patternBytes(MiB, 4));
    await truncate(file, 512 * MiB);
    await page.getByLabel('Choose files to upload').setInputFiles(file);
    await page.getByRole('button', { name: 'Cancel upload of cancelled.bin' }).click();
    const card = page.getByRole('listitem', { name: 'Upload of cancelled.bin' });
    await expect(card).toContainText('Cancelled.', { timeout: 30_000 });
    await expect(card.getByRole('link')).toHaveCount(0);
    await context.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the grid page lists every server with its state', async ({ browser }, testInfo) => {
    const { context, page } = await openApp(browser, grid.url);
    await page.goto(`${grid.url}#/grid`);
    await expect(page.getByRole('status')).toHaveText(/10 of 10 servers connected/, { timeout: 30_000 });
    const rows = page.getByRole('row');
    await expect(rows).toHaveCount(11);
    await expect(page.getByRole('rowheader', { name: 'server-00' })).toBeVisible();
    await expect(page.getByRole('row', { name: /server-03/ })).toContainText(/connected.*now.*\d+ ms/s);
    await keepScreenshot(page, testInfo, 'grid-live');
    await context.close();
  });

  test('no request, header or WebSocket frame carries the cap, the key or the plaintext', async ({
    browser,
  }) => {
    const data = patternBytes(3 * MiB + 12345, 5);
    // Everything is recorded from the first request on (the Upload page connects to the
    // servers as soon as it opens, to warn of an upload that cannot succeed).
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const seen: { where: string; text: string; bytes?: Buffer }[] = [];
    const headerReads: Promise<void>[] = [];
    const record = (r: import('@playwright/test').Request) => {
      // allHeaders(): what went on the wire, not Playwright's provisional view. A request that
      // never got that far (aborted, its page gone) is still checked, by its provisional headers.
      const check = (h: Record<string, string>) => {
        seen.push({ where: `request ${r.url()}`, text: `${r.url()}\n${JSON.stringify(h)}` });
        if (h.referer) seen.push({ where: `referer of ${r.url()}`, text: `referer: ${h.referer}` });
      };
      headerReads.push(r.allHeaders().then(check, () => check(r.headers())));
      const body = r.postDataBuffer();
      if (body) seen.push({ where: `body of ${r.url()}`, text: body.toString('latin1'), bytes: body });
    };
    context.on('request', record);
    let sockets = 0;
    const watch = (ws: import('@playwright/test').WebSocket) => {
      sockets++;
      seen.push({ where: 'websocket url', text: ws.url() });
      const frame = (f: { payload: string | Buffer }) => {
        const bytes = typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload;
        seen.push({ where: `frame on ${ws.url()}`, text: bytes.toString('latin1'), bytes });
      };
      ws.on('framesent', frame);
      ws.on('framereceived', frame);
    };
    page.on('websocket', watch);
    await page.goto(grid.url);
    await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });

    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'secret.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(data),
    });
    const href = await uploadedLink(page, 'secret.bin');
    const cap = capOf(href);
    // And read it back in the same (recorded) tab.
    await page.goto(href);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(sha(await readFile((await download.path())!))).toBe(sha(data));
    await Promise.all(headerReads);
    await context.close();

    expect(sockets).toBeGreaterThan(0);
    expect(seen.some((s) => s.where.startsWith('frame') && (s.bytes?.length ?? 0) > 100_000)).toBe(true);
    const keyB32 = cap.split(':')[2];
    const key = Buffer.from(base32Decode(keyB32));
    const probes = [0, 1 * MiB + 17, 3 * MiB].map((o) => Buffer.from(data.subarray(o, o + 32)));
    for (const s of seen) {
      expect(s.text, s.where).not.toContain(cap);
      expect(s.text, s.where).not.toContain(keyB32);
      expect(s.text, s.where).not.toContain('secret.bin');
      expect(s.where.startsWith('referer'), `${s.where} was sent`).toBe(false);
      if (s.bytes) {
        expect(s.bytes.includes(key), `${s.where} holds the key`).toBe(false);
        for (const p of probes) expect(s.bytes.includes(p), `${s.where} holds plaintext`).toBe(false);
      }
    }
  });
});

test('with 7 of 10 servers stopped, a file still downloads and new uploads get a clear message', async ({
  browser,
}) => {
  const grid = await startWebGrid(10);
  try {
    await grid.waitForServers(10);
    const data = patternBytes(25 * MiB, 6);
    const { context, page } = await openApp(browser, grid.url);
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'survivor.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(data),
    });
    const href = await uploadedLink(page, 'survivor.bin');
    await context.close();

    await Promise.all(grid.nodes.slice(0, 7).map((n) => n.close()));
    expect(sha(await downloadInFreshContext(browser, grid.url, href))).toBe(sha(data));

    const again = await openApp(browser, grid.url);
    await again.page.getByLabel('Choose files to upload').setInputFiles({
      name: 'unhappy.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(patternBytes(1 * MiB, 7)),
    });
    const alert = again.page.getByRole('listitem', { name: 'Upload of unhappy.bin' }).getByRole('alert');
    await expect(alert).toContainText('The upload failed: only 3 storage servers could take the file', {
      timeout: 60_000,
    });
    await expect(alert).toContainText('your settings require at least 7');
    await expect(alert).not.toContainText('happy');
    await again.context.close();
  } finally {
    await grid.close();
  }
});
