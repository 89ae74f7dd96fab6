/**
 * Editable (mutable) files in Chromium, through `npm start`'s grid: upload as editable,
 * edit the text and save, replace the contents with a file, and a fresh browser that holds
 * only the read-only link reads the new version and sees no write control. Every request
 * and WebSocket frame is checked for the caps, their keys and the text.
 */
import { readFile } from 'node:fs/promises';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { base32Decode } from '../../core/primitives/base32.ts';

async function openApp(browser: Browser, url: string) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });
  return { context, page };
}

/** The cap in a file link (the name and type it carries come after a `?`). */
const capOf = (href: string) =>
  decodeURIComponent(new URL(href).hash.replace(/^#\/file\//, '').split('?')[0]);

async function downloadText(page: Page): Promise<string> {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  return (await readFile((await download.path())!)).toString('utf8');
}

test('an editable file: edit and save, replace, and a read-only link sees the new version and no write control', async ({
  browser,
}) => {
  const url = process.env.CAIRN_URL!;
  // The recording starts before the page loads: the Upload page connects to the servers as
  // soon as it opens (to warn of an upload that cannot succeed), and those sockets are reused.
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();

  // Everything the tab sends or receives, for the privacy check at the end.
  const seen: { where: string; text: string; bytes?: Buffer }[] = [];
  context.on('request', (r) => {
    seen.push({ where: `request ${r.url()}`, text: `${r.url()}\n${JSON.stringify(r.headers())}` });
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
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });

  const first = 'Shopping list, kept secret by the grid\n- bread\n- cheese\n';
  await page.getByLabel('Editable: I can replace or edit the file later').check();
  await page.getByLabel('Choose files to upload').setInputFiles({
    name: 'notes.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from(first),
  });
  const card = page.getByRole('listitem', { name: 'Upload of notes.txt' });
  const readLink = card.getByRole('link', { name: 'Open notes.txt' });
  await expect(readLink).toBeVisible({ timeout: 120_000 });
  const readHref = (await readLink.getAttribute('href'))!;
  const editHref = (await card.getByRole('link', { name: 'Open to edit notes.txt' }).getAttribute('href'))!;
  const readCap = capOf(readHref);
  const writeCap = capOf(editHref);
  expect(writeCap).toMatch(/^URI:MDMF:[a-z2-7]{26}:[a-z2-7]{52}$/);
  expect(readCap).toMatch(/^URI:MDMF-RO:[a-z2-7]{26}:[a-z2-7]{52}$/);
  await expect(card.getByLabel('Write cap', { exact: true })).toHaveValue(writeCap);
  await expect(card.getByLabel('Read-only link', { exact: true })).toHaveValue(readHref);

  // The edit link: the text in an editor; change it and save.
  await page.goto(editHref);
  await expect(page.getByRole('heading', { name: 'Change this file' })).toBeVisible();
  await expect(page.getByLabel('Read-only link', { exact: true })).toHaveValue(readHref);
  const editor = page.getByLabel('Text', { exact: true });
  await expect(editor).toHaveValue(first, { timeout: 60_000 });
  const second = `${first}- apples\n`;
  await editor.fill(second);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved: everyone with a link now reads the new version.')).toBeVisible({
    timeout: 60_000,
  });
  await expect(page.getByText(`${second.length} bytes`)).toBeVisible();

  // A fresh browser with only the read-only link: the new text, and nothing to write with.
  const reader = await openApp(browser, url);
  await reader.page.goto(readHref);
  await expect(reader.page.getByText(`${second.length} bytes`)).toBeVisible({ timeout: 60_000 });
  await expect(reader.page.getByRole('heading', { name: 'Change this file' })).toHaveCount(0);
  await expect(reader.page.getByRole('button', { name: 'Save' })).toHaveCount(0);
  await expect(reader.page.getByText('Replace contents…')).toHaveCount(0);
  expect(await downloadText(reader.page)).toBe(second);

  // Replace the contents with another file: not text, so the editor goes away.
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x42, 0x00, 0xc3]);
  await page.getByLabel('Replace contents…').setInputFiles({
    name: 'blob.bin',
    mimeType: 'application/octet-stream',
    buffer: binary,
  });
  await expect(page.getByText('Saved: everyone with a link now reads the new version.')).toBeVisible({
    timeout: 60_000,
  });
  await expect(page.getByLabel('Text', { exact: true })).toHaveCount(0);
  await reader.page.reload();
  await expect(reader.page.getByText(`${binary.length} bytes`)).toBeVisible({ timeout: 60_000 });
  const [download] = await Promise.all([
    reader.page.waitForEvent('download', { timeout: 60_000 }),
    reader.page.getByRole('button', { name: 'Download' }).click(),
  ]);
  expect(Buffer.compare(await readFile((await download.path())!), binary)).toBe(0);
  await reader.context.close();
  await context.close();

  // Neither cap, nor its key, nor the text ever left the tab.
  const writeKeyB32 = writeCap.split(':')[2];
  const readKeyB32 = readCap.split(':')[2];
  const keys = [writeKeyB32, readKeyB32].map((k) => Buffer.from(base32Decode(k)));
  expect(seen.some((s) => s.where.startsWith('frame'))).toBe(true);
  for (const s of seen) {
    for (const t of [writeCap, readCap, writeKeyB32, readKeyB32, 'kept secret by the grid', '- apples']) {
      expect(s.text, s.where).not.toContain(t);
    }
    if (s.bytes) for (const k of keys) expect(s.bytes.includes(k), `${s.where} holds a key`).toBe(false);
  }
});
