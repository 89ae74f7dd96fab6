/**
 * A shared link as its recipient meets it, in a fresh browser: the name and media type ride
 * in the fragment beside the cap, so the page shows the name, previews what Chromium can
 * show (an image, audio and video streamed through the service worker with range reads, a
 * PDF, UTF-8 text), saves the download under the name, and History lists it by name. A bare
 * cap link (every link made before) still opens. No request or frame carries the cap, the
 * name or the type.
 */
import { readFile } from 'node:fs/promises';
import { expect, type Page, test } from '@playwright/test';
import { capOf, openApp, recordTraffic, uploadedLink } from './app-helpers.ts';

const base = () => process.env.CAIRN_URL!;

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

/** A one-page PDF saying `text`, with a correct cross-reference table. */
function tinyPdf(text: string): Buffer {
  const stream = `BT /F1 24 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A second of VP8 video recorded from a canvas in the page (Chromium's own MediaRecorder). */
async function recordWebm(page: Page): Promise<Buffer> {
  const bytes = await page.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 160;
    c.height = 120;
    const g = c.getContext('2d')!;
    const rec = new MediaRecorder(c.captureStream(25), { mimeType: 'video/webm;codecs=vp8' });
    const chunks: Blob[] = [];
    rec.ondataavailable = (e) => chunks.push(e.data);
    let f = 0;
    const paint = setInterval(() => {
      g.fillStyle = `hsl(${(f++ * 30) % 360} 80% 50%)`;
      g.fillRect(0, 0, 160, 120);
    }, 40);
    rec.start(100);
    await new Promise((r) => setTimeout(r, 1200));
    const stopped = new Promise((r) => {
      rec.onstop = r;
    });
    rec.stop();
    await stopped;
    clearInterval(paint);
    return Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()));
  });
  return Buffer.from(bytes);
}

test('a shared link shows its name, previews what the browser can show, and saves under the name', async ({
  browser,
}) => {
  const text = 'Grüße aus Cairn ✓\nA second line, to be read in the page.\n'.repeat(40);
  const pdf = tinyPdf('Hello from a PDF');
  const wav = toneWav(10, 8000);
  const png = await readFile('web/public/icons/icon-512.png');
  const up = await openApp(browser, base());
  const webm = await recordWebm(up.page);
  const files = [
    { name: 'Grüße & notes.txt', mimeType: 'text/plain', buffer: Buffer.from(text) },
    { name: 'report #3.pdf', mimeType: 'application/pdf', buffer: pdf },
    { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav },
    { name: 'holiday snap.png', mimeType: 'image/png', buffer: png },
    { name: 'clip.webm', mimeType: 'video/webm', buffer: webm },
  ];
  await up.page.getByLabel('Choose files to upload').setInputFiles(files);
  const links = new Map<string, string>();
  for (const f of files) links.set(f.name, await uploadedLink(up.page, f.name));
  await up.context.close();

  // The link itself: the cap unchanged, then the name and the type, all in the fragment.
  const textLink = new URL(links.get('Grüße & notes.txt')!);
  expect(textLink.search).toBe('');
  expect(textLink.hash).toBe(
    `#/file/${capOf(textLink.href)}?name=${encodeURIComponent('Grüße & notes.txt')}&type=text%2Fplain`,
  );

  // The recipient: a fresh browser that has never seen these files; everything it sends is recorded.
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const traffic = recordTraffic(context, page);
  await page.goto(base());
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });

  // UTF-8 text: shown in the page; the name is the heading and the title; the download keeps it.
  await page.goto(links.get('Grüße & notes.txt')!);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Grüße & notes.txt');
  await expect(page).toHaveTitle('Grüße & notes.txt — Cairn');
  await expect(page.getByRole('figure', { name: 'Preview of Grüße & notes.txt' })).toContainText(
    'Grüße aus Cairn ✓',
    { timeout: 30_000 },
  );
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('Grüße & notes.txt');
  expect((await readFile((await download.path())!)).toString('utf8')).toBe(text);

  // An image.
  await page.goto(links.get('holiday snap.png')!);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('holiday snap.png');
  const img = page.getByRole('img', { name: 'Preview of holiday snap.png' });
  await expect
    .poll(() => img.evaluate((i: HTMLImageElement) => i.naturalWidth), { timeout: 30_000 })
    .toBe(512);

  // Audio, streamed by range through the service worker.
  await page.goto(links.get('tone.wav')!);
  const audio = page.getByLabel('Preview of tone.wav');
  await expect
    .poll(() => audio.evaluate((a: HTMLAudioElement) => a.duration), { timeout: 30_000 })
    .toBeCloseTo(10, 1);
  const part = await audio.evaluate(async (a: HTMLAudioElement) => {
    const res = await fetch(a.src, { headers: { Range: 'bytes=1000-1999' } });
    return { status: res.status, bytes: Array.from(new Uint8Array(await res.arrayBuffer())) };
  });
  expect(part.status).toBe(206);
  expect(Buffer.from(part.bytes).equals(wav.subarray(1000, 2000))).toBe(true);

  // Video: its frames' size is known once the metadata came through the service worker.
  await page.goto(links.get('clip.webm')!);
  const video = page.getByLabel('Preview of clip.webm');
  await expect
    .poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 30_000 })
    .toBe(160);
  expect(new URL((await video.getAttribute('src'))!).pathname).toMatch(/^\/_cairn\/media\/[0-9a-f]{32}$/);

  // A PDF, in a frame whose source the service worker answers with the file as a PDF.
  await page.goto(links.get('report #3.pdf')!);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('report #3.pdf');
  const frame = page.getByTitle('Preview of report #3.pdf');
  await expect(frame).toBeAttached({ timeout: 30_000 });
  const served = await frame.evaluate(async (f: HTMLIFrameElement) => {
    const res = await fetch(f.src);
    return {
      type: res.headers.get('Content-Type'),
      bytes: Array.from(new Uint8Array(await res.arrayBuffer())),
    };
  });
  expect(served.type).toBe('application/pdf');
  expect(Buffer.from(served.bytes).equals(pdf)).toBe(true);

  // History lists what was opened by the names the links gave.
  await page.goto(`${base()}#/history`);
  for (const f of files) await expect(page.getByRole('link', { name: f.name, exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Unnamed file' })).toHaveCount(0);

  await traffic.settle();
  await context.close();
  expect(traffic.seen.some((s) => s.where.startsWith('frame'))).toBe(true);
  for (const s of traffic.seen) {
    for (const f of files) {
      expect(s.text, s.where).not.toContain(capOf(links.get(f.name)!));
      expect(s.text, s.where).not.toContain(encodeURIComponent(f.name));
      expect(s.text, s.where).not.toContain(f.name);
    }
    expect(s.text, s.where).not.toContain('type=');
    expect(s.text, s.where).not.toContain('Grüße aus Cairn');
  }
});

test('a bare cap link (as every link made before names were carried) still opens and downloads', async ({
  browser,
}) => {
  const up = await openApp(browser, base());
  const body = Buffer.from('plain old link\n'.repeat(100));
  await up.page.getByLabel('Choose files to upload').setInputFiles({
    name: 'old.txt',
    mimeType: 'text/plain',
    buffer: body,
  });
  const cap = capOf(await uploadedLink(up.page, 'old.txt'));
  await up.context.close();

  const { context, page } = await openApp(browser, base());
  await page.goto(`${base()}#/file/${cap}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Shared file');
  await expect(page.getByText('not known: this link does not carry one')).toBeVisible();
  await expect(page.getByText(`${body.length.toLocaleString('en-US')} bytes`)).toBeVisible();
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('download');
  expect((await readFile((await download.path())!)).equals(body)).toBe(true);
  // The same cap percent-encoded by a chat app, name and all, opens the same file.
  const hinted = `#/file/${cap}?name=${encodeURIComponent('old.txt')}`;
  await page.goto(`${base()}#/file/${encodeURIComponent(hinted.slice('#/file/'.length))}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('old.txt');
  await context.close();
});
