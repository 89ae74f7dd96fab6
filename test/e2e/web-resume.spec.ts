/**
 * Resumable uploads in Chromium against `cairn grid` (relay + 10 server processes): an upload
 * interrupted by a closed tab comes back as a card in another open tab once the closed one
 * lets go of it, resumes when the same file is chosen again, and sends less than the whole
 * (counted in the WebSocket frames the page's workers send); the download in a fresh browser
 * is byte-equal. A file that is not the one interrupted is uploaded as a new file, with a
 * note saying why.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { type ChkPlan, planChk } from '../../core/immutable/plan.ts';
import { MiB, openApp, patternBytes, uploadedLink } from './app-helpers.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function downloadInFreshContext(browser: Browser, gridUrl: string, href: string): Promise<Buffer> {
  const { context, page } = await openApp(browser, gridUrl);
  await page.goto(href);
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 180_000 }),
    page.getByRole('button', { name: 'Download' }).click(),
  ]);
  const bytes = await readFile((await download.path())!);
  await expect(page.getByText('Download complete: every byte was verified.')).toBeVisible();
  await context.close();
  return bytes;
}

let dir = '';
test.beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-resume-e2e-'));
});
test.afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('an upload interrupted by a closed tab is offered in another tab once the closed one lets go, resumes there with the same file and sends less than the whole', async ({
  browser,
}) => {
  test.setTimeout(300_000);
  const url = process.env.CAIRN_URL!;
  const size = 64 * MiB;
  const data = patternBytes(size, 31);
  const file = path.join(dir, 'resume.bin');
  await writeFile(file, data);
  const plan = planChk(size, { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 }) as ChkPlan;
  const total = plan.shareSize * 10;

  // Bytes of the frames the page and its workers send, before and after the reload. Share
  // writes are the large frames; the rest (hello, allocate, close, …) are small. Listened to
  // from the first load: the Upload page reaches the grid (to warn of too few servers) before
  // any upload, and the upload then uses those connections.
  const sent = { before: 0, after: 0 };
  let phase: 'before' | 'after' = 'before';
  let afterFrame = () => {};
  const countFrames = (p: Page) =>
    p.on('websocket', (ws) => {
      ws.on('framesent', (f) => {
        const n = typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length;
        if (n > 4096) sent[phase] += n;
        afterFrame();
      });
    });
  const { context, page: first } = await openApp(browser, url, {}, countFrames);
  // A second tab, open before the upload starts: it hears of the upload when the first tab
  // writes its record, and offers no card while the first tab holds the upload's lock.
  const page = await context.newPage();
  countFrames(page);
  await page.goto(url);
  await expect(page.getByRole('heading', { name: 'Cairn' })).toBeVisible();
  const card = page.getByRole('listitem', { name: 'Upload of resume.bin' });

  // The first tab is closed once a third of the share bytes are sent, right from the frame
  // listener: on a loaded machine, asking the page for its progress bar took long enough for
  // the rest of the upload to finish first (seen: all of it sent before the close). Its upload
  // stops at once; a reload would first ask, since uploads are running, and the upload could
  // finish while it waits.
  const closing = new Promise<void>((resolve) => {
    afterFrame = () => {
      if (phase === 'before' && sent.before > 0.35 * total) {
        // Anything sent from here on counts as the second phase (even frames the old page
        // still sends as it unloads): the measurement can only overstate what resuming costs.
        phase = 'after';
        resolve(first.close({ runBeforeUnload: false }));
      }
    };
  });
  await first.getByLabel('Choose files to upload').setInputFiles(file);
  // Share bytes flowing: the upload's record is written and its lock held; no card here.
  await expect.poll(() => sent.before, { timeout: 180_000, intervals: [50] }).toBeGreaterThan(0);
  await expect(card).toHaveCount(0);
  await closing;
  // The card comes to the second tab once the closed tab's lock is let go, without a reload;
  // it showed none while the first tab ran the upload.
  await expect(card).toContainText('Interrupted — choose the same file to resume', { timeout: 30_000 });
  await card.getByLabel('Choose the same file to resume the upload of resume.bin').setInputFiles(file);
  const href = await uploadedLink(page, 'resume.bin', 180_000);
  await expect(card).toContainText('Resumed:');
  console.log(
    `share bytes ${total}; frames sent before the tab closed ${sent.before}, after ${sent.after} (${((100 * sent.after) / total).toFixed(1)}% of the shares)`,
  );
  // The first phase got well into the upload; the second sent what was left, not the whole.
  expect(sent.before).toBeGreaterThan(0.3 * total);
  expect(sent.after).toBeLessThan(0.75 * total);
  expect(sent.after).toBeLessThan(total - 0.25 * total);
  // Together about every share byte once (frames carry a little more than their data). The
  // closing tab's last frames may reach the servers without being reported to the test (a
  // fresh-clone run counted 98.2% of the share bytes), so the lower bound allows for them.
  expect(sent.before + sent.after).toBeGreaterThan(0.9 * total);
  expect(sent.before + sent.after).toBeLessThan(1.15 * total);

  // Finished: the record is gone, so a reload shows no card to resume.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Cairn' })).toBeVisible();
  await expect(page.getByText('Interrupted — choose the same file to resume')).toHaveCount(0);
  await context.close();

  const got = await downloadInFreshContext(browser, url, href);
  expect(got.length).toBe(size);
  expect(sha(got)).toBe(sha(data));
});

test('a file that is not the interrupted one is uploaded as a new file, with a note', async ({ browser }) => {
  test.setTimeout(120_000);
  const url = process.env.CAIRN_URL!;
  const { context, page } = await openApp(browser, url);
  const same = path.join(dir, 'seeded.bin');
  await writeFile(same, patternBytes(300_000, 41));
  const when = new Date('2024-05-01T12:00:00Z');
  await utimes(same, when, when);
  const st = await stat(same);
  // An interrupted upload as an earlier visit would have left it: same name, size and date as
  // `same`, but another storage index (another file's contents).
  await page.evaluate(
    async (rec) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('cairn-uploads');
        open.onupgradeneeded = () => open.result.createObjectStore('pending');
        open.onsuccess = () => {
          const tx = open.result.transaction('pending', 'readwrite');
          tx.objectStore('pending').put(rec, rec.id);
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      }),
    {
      id: 'seeded-upload',
      name: 'seeded.bin',
      size: st.size,
      lastModified: Math.floor(st.mtimeMs),
      type: '',
      params: { k: 3, happy: 7, n: 10, convergence: true },
      si: 'aaaaaaaaaaaaaaaaaaaaaaaaaa',
      started: Date.now() - 60_000,
    },
  );
  await page.reload();
  const card = page.getByRole('listitem', { name: 'Upload of seeded.bin' });
  await expect(card).toContainText('Interrupted — choose the same file to resume');
  // Same name, size and date, other contents: its storage index differs.
  await card.getByLabel('Choose the same file to resume the upload of seeded.bin').setInputFiles(same);
  await uploadedLink(page, 'seeded.bin', 180_000);
  await expect(card).toContainText("This file's contents are not those of the interrupted upload");
  await expect(card).not.toContainText('Resumed:');
  // Its card would come back after the reload below (cards survive a reload): cleared first.
  await page.getByRole('button', { name: 'Dismiss finished' }).click();

  // Another name: not the same file at all.
  await page.evaluate(
    async (rec) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('cairn-uploads');
        open.onsuccess = () => {
          const tx = open.result.transaction('pending', 'readwrite');
          tx.objectStore('pending').put(rec, rec.id);
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      }),
    {
      id: 'seeded-upload-2',
      name: 'gone.bin',
      size: 123_456,
      lastModified: 1_700_000_000_000,
      type: '',
      params: { k: 3, happy: 7, n: 10, convergence: true },
      si: 'aaaaaaaaaaaaaaaaaaaaaaaaaa',
      started: Date.now() - 60_000,
    },
  );
  await page.reload();
  const other = page.getByRole('listitem', { name: 'Upload of gone.bin' });
  await other.getByLabel('Choose the same file to resume the upload of gone.bin').setInputFiles(same);
  const renamed = page.getByRole('listitem', { name: 'Upload of seeded.bin' });
  await expect(renamed).toContainText('This is not the file whose upload was interrupted (gone.bin');
  await uploadedLink(page, 'seeded.bin', 180_000);
  // Nothing is left to resume.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Cairn' })).toBeVisible();
  await expect(page.getByText('Interrupted — choose the same file to resume')).toHaveCount(0);
  await context.close();
});
