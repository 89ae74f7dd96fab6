/**
 * The web app as a person uses it day to day, on the grid global-setup started: files
 * dropped anywhere in the window are uploaded (never opened by the browser); leaving while
 * uploads run asks first; upload cards survive a reload and finished ones are dismissed at
 * once; progress names its phases with speed and time left; a stored card shows its link
 * once, with Copy, the share sheet where the browser has one, and a QR code that scans back
 * to the link; History searches, sorts, asks before Forget and can undo it, with button
 * names that start with their visible text; pinning asks for persistent storage; offline
 * is said, and uploads are not offered; a phone is not told to drop files; Settings marks
 * every field a broken rule involves, with the summary above them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import decodeQR from '@paulmillr/qr/decode.js';
import { expect, type Page, test } from '@playwright/test';
import { MiB, openApp, patternBytes, uploadedLink } from './app-helpers.ts';

const base = () => process.env.CAIRN_URL!;

/** Drops `files` (made in the page) on the element `selector` matches, as a real drag would. */
async function dropOn(page: Page, selector: string, files: { name: string; text: string }[]) {
  const dt = await page.evaluateHandle((list) => {
    const t = new DataTransfer();
    for (const f of list) t.items.add(new File([f.text], f.name, { type: 'text/plain' }));
    return t;
  }, files);
  for (const type of ['dragenter', 'dragover', 'drop'])
    await page.dispatchEvent(selector, type, { dataTransfer: dt });
}

test('a drop anywhere uploads; leaving asks first; cards survive a reload; phases with speed and time left', async ({
  browser,
}) => {
  test.setTimeout(360_000);
  const { context, page } = await openApp(browser, base());

  // Files dragged anywhere over the window light the box up plainly: a thick solid border
  // and a tinted background, not the faint change it had.
  const zone = page.getByRole('region', { name: 'Drop files here to upload them' });
  const look = () =>
    zone.evaluate((el) => {
      const c = getComputedStyle(el);
      return {
        border: c.borderTopWidth,
        style: c.borderTopStyle,
        outline: c.outlineWidth,
        bg: c.backgroundColor,
      };
    });
  const idle = await look();
  const drag = await page.evaluateHandle(() => {
    const t = new DataTransfer();
    t.items.add(new File(['x'], 'x.txt', { type: 'text/plain' }));
    return t;
  });
  await page.dispatchEvent('h1', 'dragenter', { dataTransfer: drag });
  const over = await look();
  expect(over.style).toBe('solid');
  expect(Number.parseFloat(over.border)).toBeGreaterThanOrEqual(4);
  expect(Number.parseFloat(over.outline)).toBeGreaterThanOrEqual(4);
  expect(over.bg).not.toBe(idle.bg);
  await page.dispatchEvent('h1', 'dragleave', { dataTransfer: drag });
  await expect.poll(look).toEqual(idle);

  // Outside the dashed box (on the page heading), and from another page: uploaded, not opened.
  await dropOn(page, 'h1', [{ name: 'dropped outside.txt', text: 'dropped beside the box\n'.repeat(50) }]);
  await uploadedLink(page, 'dropped outside.txt');
  await page.goto(`${base()}#/history`);
  await dropOn(page, 'h1', [{ name: 'dropped on history.txt', text: 'dropped on History\n'.repeat(50) }]);
  await expect(page).toHaveURL(`${base()}#/`);
  await uploadedLink(page, 'dropped on history.txt');

  // A large upload: each phase is named, with speed and time left while bytes move.
  await page.evaluate(() => {
    const seen = new Set<string>();
    (window as unknown as { phases: Set<string> }).phases = seen;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('.phase-line')) seen.add(el.textContent ?? '');
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-use-'));
  const big = path.join(dir, 'big.bin');
  writeFileSync(big, patternBytes(40 * MiB, 5));
  // The page reads the file from disk as it uploads: removed once the test is done.
  await page.getByLabel('Choose files to upload').setInputFiles(big);
  const card = page.getByRole('listitem', { name: 'Upload of big.bin' });
  await expect(card.locator('.phase-line')).toHaveText(
    /^(Reaching the storage servers|Reading the file|Encrypting and storing)/,
  );

  // Leaving while it runs asks first (the page has had a click, as a person's page would).
  await page.mouse.click(5, 300);
  const asked = new Promise<string>((resolve) =>
    page.once('dialog', (d) => {
      resolve(d.type());
      void d.dismiss();
    }),
  );
  await page.close({ runBeforeUnload: true });
  expect(await asked).toBe('beforeunload');
  expect(page.isClosed()).toBe(false);

  await uploadedLink(page, 'big.bin', 180_000);
  const phases = await page.evaluate(() => [...(window as unknown as { phases: Set<string> }).phases]);
  expect(phases.some((p) => p.startsWith('Reading the file'))).toBe(true);
  expect(
    phases.some((p) =>
      /^Encrypting and storing · [\d.,]+ [KMG]?i?B\/s · about \d+ (s|min) left$/.test(p.trim()),
    ),
    phases.join('\n'),
  ).toBe(true);

  // The link is shown once on a card (in its field), not twice.
  const link = await uploadedLink(page, 'big.bin');
  expect(await card.innerText()).not.toContain(link);
  await expect(card.getByRole('textbox', { name: 'Link' })).toHaveValue(link);

  // A reload keeps the cards, stored ones with their links; Dismiss finished clears them.
  await page.reload();
  await expect(page.getByRole('listitem', { name: /^Upload of / })).toHaveCount(3);
  expect(await uploadedLink(page, 'big.bin')).toBe(link);
  await page.getByRole('button', { name: 'Dismiss finished' }).click();
  await expect(page.getByRole('listitem', { name: /^Upload of / })).toHaveCount(0);
  await context.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Share: a QR code that scans back to the link, and the share sheet where the browser has one', async ({
  browser,
}) => {
  const { context, page } = await openApp(browser, base());
  // Headless Chromium on Linux has no share sheet: no Share button is offered.
  await page.getByLabel('Choose files to upload').setInputFiles({
    name: 'poster.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('to be shared\n'.repeat(100)),
  });
  const link = await uploadedLink(page, 'poster.txt');
  const card = page.getByRole('listitem', { name: 'Upload of poster.txt' });
  expect(await page.evaluate(() => typeof navigator.share)).toBe('undefined');
  await expect(card.getByRole('button', { name: /^Share…/ })).toHaveCount(0);

  await card.getByRole('button', { name: 'QR code of the link to poster.txt' }).click();
  const qr = card.getByRole('img', { name: 'QR code of the link to poster.txt' });
  await expect(qr).toBeVisible();
  // Drawn into a canvas at 4 px a module, then decoded here: the code is the link itself.
  const pixels = await qr.evaluate(async (svg) => {
    const vb = (svg as SVGSVGElement).viewBox.baseVal.width;
    const size = vb * 4;
    const img = new Image();
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(svg))}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = size;
    c.height = size;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0, size, size);
    return { width: size, height: size, data: Array.from(g.getImageData(0, 0, size, size).data) };
  });
  expect(decodeQR({ width: pixels.width, height: pixels.height, data: new Uint8Array(pixels.data) })).toBe(
    link,
  );
  await context.close();

  // A browser with a share sheet: Share… hands it the link and the file's name.
  const sharing = await browser.newContext();
  await sharing.addInitScript(() => {
    Object.defineProperty(navigator, 'share', {
      value: async (d: ShareData) => {
        (window as unknown as { shared: ShareData }).shared = d;
      },
    });
  });
  const p2 = await sharing.newPage();
  await p2.goto(base());
  await p2.getByLabel('Choose files to upload').setInputFiles({
    name: 'sheet.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('shared by the sheet\n'.repeat(100)),
  });
  const link2 = await uploadedLink(p2, 'sheet.txt');
  await p2.getByRole('button', { name: 'Share… sheet.txt' }).click();
  expect(await p2.evaluate(() => (window as unknown as { shared: ShareData }).shared)).toEqual({
    title: 'sheet.txt',
    url: link2,
  });
  await sharing.close();
});

test('History: search, sort, Forget asks first and can be undone; pinning asks for persistent storage', async ({
  browser,
}) => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const w = window as unknown as { persistAsked: number };
    w.persistAsked = 0;
    const storage = navigator.storage;
    const persist = storage.persist.bind(storage);
    storage.persist = () => {
      w.persistAsked++;
      return persist();
    };
  });
  const page = await context.newPage();
  await page.goto(base());
  const files = [
    { name: 'beta notes.txt', size: 3000 },
    { name: 'alpha.txt', size: 9000 },
    { name: 'gamma.txt', size: 6000 },
  ];
  for (const f of files) {
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: f.name,
      mimeType: 'text/plain',
      buffer: Buffer.from('x'.repeat(f.size)),
    });
    await uploadedLink(page, f.name);
  }
  await page.goto(`${base()}#/history`);
  const names = () => page.locator('.history-item .file-name').allInnerTexts();
  await expect.poll(names).toEqual(['gamma.txt', 'alpha.txt', 'beta notes.txt']);
  await page.getByLabel('Sort').selectOption({ label: 'By name' });
  await expect.poll(names).toEqual(['alpha.txt', 'beta notes.txt', 'gamma.txt']);
  await page.getByLabel('Sort').selectOption({ label: 'Largest first' });
  await expect.poll(names).toEqual(['alpha.txt', 'gamma.txt', 'beta notes.txt']);
  await page.getByLabel('Search by name').fill('NOTES');
  await expect.poll(names).toEqual(['beta notes.txt']);
  await expect(page.getByText('1 of 3 files')).toBeVisible();
  await page.getByLabel('Search by name').fill('');

  // Button names start with the words on them (voice control says what it sees).
  const pin = page.getByRole('button', { name: 'Pin for offline use: alpha.txt' });
  await expect(pin).toHaveText('Pin for offline use');
  await expect(page.getByRole('button', { name: 'Forget alpha.txt' })).toHaveText('Forget');

  // Pinning asks the browser to keep this site's storage.
  await pin.click();
  await expect(page.getByRole('button', { name: 'Pinned for offline use: alpha.txt' })).toBeVisible({
    timeout: 60_000,
  });
  // The ask runs beside the pin (after asking whether storage is persistent already), so a
  // small file can be pinned before it is made.
  await expect
    .poll(() => page.evaluate(() => (window as unknown as { persistAsked: number }).persistAsked))
    .toBeGreaterThan(0);

  // Forget asks first; Keep it keeps it.
  await page.getByRole('button', { name: 'Forget gamma.txt' }).click();
  await expect(page.getByText(/^Forget gamma\.txt\? Its link is kept nowhere else/)).toBeVisible();
  await page.getByRole('button', { name: 'Keep it' }).click();
  await expect.poll(names).toContain('gamma.txt');
  // Forget it, then Undo: back, and still there after a reload.
  await page.getByRole('button', { name: 'Forget gamma.txt' }).click();
  await page.getByRole('button', { name: 'Forget it' }).click();
  await expect.poll(names).not.toContain('gamma.txt');
  await page.getByRole('button', { name: 'Undo: bring back gamma.txt' }).click();
  await expect.poll(names).toContain('gamma.txt');
  await page.reload();
  await expect.poll(names).toContain('gamma.txt');
  // A pinned file forgotten and brought back is still pinned (its copy was kept for the undo).
  await page.getByRole('button', { name: 'Forget alpha.txt' }).click();
  await page.getByRole('button', { name: 'Forget it' }).click();
  await page.getByRole('button', { name: 'Undo: bring back alpha.txt' }).click();
  await expect(page.getByRole('button', { name: 'Pinned for offline use: alpha.txt' })).toBeVisible();
  // Forgotten for good: gone after a reload.
  await page.getByRole('button', { name: 'Forget beta notes.txt' }).click();
  await page.getByRole('button', { name: 'Forget it' }).click();
  await expect.poll(names).not.toContain('beta notes.txt');
  await page.goto(base());
  await page.goto(`${base()}#/history`);
  await expect.poll(names).toEqual(['gamma.txt', 'alpha.txt']);
  await context.close();
});

test('offline is said and uploads are not offered; a phone is not told to drop files; Settings marks every field involved', async ({
  browser,
}) => {
  const { context, page } = await openApp(browser, base());
  await expect(page.getByText('Drop files here, or')).toBeVisible();
  await context.setOffline(true);
  await expect(page.getByText(/^Offline\. Uploads and files not pinned wait/)).toBeVisible();
  await expect(page.getByText('This device is offline.')).toBeVisible();
  await expect(page.getByLabel('Choose files to upload')).toHaveCount(0);
  await context.setOffline(false);
  await expect(page.getByLabel('Choose files to upload')).toBeAttached();
  await expect(page.getByText(/^Offline\./)).toHaveCount(0);

  // k = 20 with the default N = 10: k is marked, with N, and the summary comes first.
  await page.goto(`${base()}#/settings`);
  await page.getByLabel('Shares needed (k)').fill('20');
  await page.getByRole('button', { name: 'Save settings' }).click();
  const k = page.getByLabel('Shares needed (k)');
  await expect(k).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#k-error')).toBeVisible();
  const summary = page.getByRole('group', { name: /^Settings not saved/ }).or(page.locator('.error-summary'));
  await expect(summary).toBeVisible();
  const [sy, ky] = await Promise.all([summary.boundingBox(), k.boundingBox()]);
  expect(sy!.y).toBeLessThan(ky!.y);
  await context.close();

  // A phone: no "drop" wording.
  const phone = await browser.newContext({
    viewport: { width: 375, height: 740 },
    isMobile: true,
    hasTouch: true,
  });
  const p = await phone.newPage();
  await p.goto(base());
  await expect(p.getByLabel('Choose files to upload')).toBeAttached();
  await expect(p.getByText(/drop files/i)).toHaveCount(0);
  await expect(p.getByRole('region', { name: 'Upload files' })).toBeVisible();
  await phone.close();
});
