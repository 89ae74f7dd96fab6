/**
 * "My files" in Chromium, on `npm start`'s grid: a folder uploaded whole (structure kept),
 * new folder, rename, delete; the read-only link opened in a fresh browser shows the tree
 * without any write control, a file inside downloads byte-equal, and the .zip download
 * unpacks (with Python's zipfile) to the same tree.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, expect, test } from '@playwright/test';

async function openApp(browser: Browser, url: string) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });
  return { context, page };
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('My files: a folder upload, folder operations, a read-only share and a .zip of the tree', async ({
  browser,
}) => {
  const url = process.env.CAIRN_URL!;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-folder-'));
  const tree = path.join(dir, 'Trip photos');
  const files = new Map<string, Buffer>([
    ['Trip photos/notes.txt', Buffer.from('day one: rain\n')],
    // Over the batch limit (256 KiB): uploaded on its own, read from the File in windows.
    ['Trip photos/day 1/beach.jpg', bytes(400_000, 1)],
    ['Trip photos/day 1/ünïcode näme.bin', bytes(70_000, 2)],
    ['Trip photos/day 2/deeper/x.bin', bytes(1000, 3)],
  ]);
  for (const [rel, data] of files) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), data);
  }
  try {
    const { context, page } = await openApp(browser, url);
    await page.getByRole('link', { name: 'My files' }).click();
    await expect(page.getByRole('heading', { name: 'My files', level: 1 })).toBeVisible();
    await expect(page.getByText('Empty. Upload files or drop them here.')).toBeVisible({ timeout: 60_000 });

    await page.getByLabel('Upload a folder').setInputFiles(tree);
    await expect(page.getByRole('link', { name: 'Trip photos' })).toBeVisible({ timeout: 120_000 });
    await page.getByRole('link', { name: 'Trip photos' }).click();
    await expect(page.getByRole('heading', { name: 'Trip photos', level: 1 })).toBeVisible();
    await expect(page.getByRole('link', { name: 'notes.txt' })).toBeVisible({ timeout: 60_000 });
    await expect(page.getByRole('link', { name: 'day 1' })).toBeVisible();

    // New folder, rename it, delete it (with confirmation).
    await page.getByLabel('New folder').fill('scratch');
    await page.getByRole('button', { name: 'Create folder' }).click();
    await expect(page.getByRole('link', { name: 'scratch' })).toBeVisible({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Rename scratch' }).click();
    await page.getByLabel('New name for scratch').fill('kept');
    await page.getByRole('button', { name: 'Save name' }).click();
    await expect(page.getByRole('link', { name: 'kept' })).toBeVisible({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Delete kept' }).click();
    await page.getByRole('button', { name: 'Yes, delete kept' }).click();
    await expect(page.getByRole('link', { name: 'kept' })).toHaveCount(0, { timeout: 60_000 });

    // Keeping everything alive from My files renews every file and folder under it.
    await page.getByRole('link', { name: 'My files' }).first().click();
    await expect(page.getByRole('link', { name: 'Trip photos' })).toBeVisible({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Keep alive' }).click();
    await expect(page.getByText('Kept alive: 9 files and folders (9 healthy).')).toBeVisible({
      timeout: 120_000,
    });
    await page.getByRole('button', { name: 'Check everything' }).click();
    await expect(page.getByText('9 files and folders: 9 healthy.')).toBeVisible({ timeout: 120_000 });
    await page.getByRole('link', { name: 'Trip photos' }).click();

    // Breadcrumbs lead back up; the folder's read-only link goes to someone else.
    await page.getByRole('link', { name: 'day 1' }).click();
    await expect(
      page.getByRole('navigation', { name: 'Breadcrumbs' }).getByRole('link', { name: 'Trip photos' }),
    ).toBeVisible();
    await page
      .getByRole('navigation', { name: 'Breadcrumbs' })
      .getByRole('link', { name: 'Trip photos' })
      .click();
    await page.getByText('Share this folder').click();
    const readLink = await page.getByLabel('Read-only link', { exact: true }).inputValue();
    expect(readLink).toMatch(/#\/dir\/URI:DIR2-RO:/);
    await context.close();

    const other = await openApp(browser, url);
    await other.page.goto(readLink);
    await expect(other.page.getByRole('link', { name: 'day 1' })).toBeVisible({ timeout: 60_000 });
    await expect(
      other.page.getByText('Read-only: you can open and download what is here, not change it.'),
    ).toBeVisible();
    for (const control of ['Upload files', 'Upload a folder', 'New folder']) {
      await expect(other.page.getByText(control, { exact: true })).toHaveCount(0);
    }
    await expect(other.page.getByRole('button', { name: /^(Rename|Delete) / })).toHaveCount(0);
    // A file two levels down, downloaded byte for byte.
    await other.page.getByRole('link', { name: 'day 1' }).click();
    await other.page.getByRole('link', { name: 'ünïcode näme.bin' }).click();
    const [download] = await Promise.all([
      other.page.waitForEvent('download', { timeout: 60_000 }),
      other.page.getByRole('button', { name: 'Download', exact: true }).click(),
    ]);
    expect(
      Buffer.compare(
        await readFile((await download.path())!),
        files.get('Trip photos/day 1/ünïcode näme.bin')!,
      ),
    ).toBe(0);

    // Kept offline: with the network off, the folder and a file inside still open.
    await other.page.goto(readLink);
    await other.page.getByRole('button', { name: 'Keep this folder offline' }).click();
    await expect(other.page.getByText('Kept offline: 4 file(s), readable with no network.')).toBeVisible({
      timeout: 120_000,
    });
    await other.context.setOffline(true);
    await other.page.reload();
    await expect(
      other.page.getByText(/The grid cannot be reached: this is the copy of the folder kept on/),
    ).toBeVisible({
      timeout: 60_000,
    });
    await other.page.getByRole('link', { name: 'day 1' }).click();
    await other.page.getByRole('link', { name: 'beach.jpg' }).click();
    await expect(other.page.getByText('pinned: readable without a network')).toBeVisible({ timeout: 30_000 });
    const [offlineCopy] = await Promise.all([
      other.page.waitForEvent('download', { timeout: 60_000 }),
      other.page.getByRole('button', { name: 'Download', exact: true }).click(),
    ]);
    expect(
      Buffer.compare(await readFile((await offlineCopy.path())!), files.get('Trip photos/day 1/beach.jpg')!),
    ).toBe(0);
    await other.context.setOffline(false);

    // The whole shared folder as a .zip: it unpacks to the same tree.
    await other.page.goto(readLink);
    await expect(other.page.getByRole('link', { name: 'day 1' })).toBeVisible({ timeout: 60_000 });
    const [zip] = await Promise.all([
      other.page.waitForEvent('download', { timeout: 60_000 }),
      other.page.getByRole('button', { name: 'Download as .zip' }).click(),
    ]);
    const zipPath = path.join(dir, 'got.zip');
    await zip.saveAs(zipPath);
    const listing = JSON.parse(
      execFileSync('/usr/bin/python3', [
        '-c',
        'import zipfile,sys,json,hashlib; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps({n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()}))',
        zipPath,
      ]).toString(),
    ) as Record<string, string>;
    const { createHash } = await import('node:crypto');
    const expected = Object.fromEntries(
      [...files].map(([rel, data]) => [
        rel.replace(/^Trip photos\//, ''),
        createHash('sha256').update(data).digest('hex'),
      ]),
    );
    expect(listing).toEqual(expected);
    await other.context.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
