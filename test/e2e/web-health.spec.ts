/**
 * Keeping files alive from the web app, in Chromium, on a grid this test controls: the file
 * page's Health panel checks, verifies and repairs (shares deleted from three servers' disks
 * come back), and History's "Keep alive" renews the browser's leases on every file it keeps.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, expect, test } from '@playwright/test';
import { startWebGrid } from './web-grid.ts';

async function openApp(browser: Browser, url: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });
  return { context, page };
}

test('the Health panel checks, verifies and repairs; History keeps every file alive', async ({ browser }) => {
  const grid = await startWebGrid(10);
  try {
    await grid.waitForServers(10);
    const { context, page } = await openApp(browser, grid.url);
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 255;
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'keep.bin',
      mimeType: 'application/octet-stream',
      buffer: data,
    });
    const link = page
      .getByRole('listitem', { name: 'Upload of keep.bin' })
      .getByRole('link', { name: 'Open keep.bin' });
    await expect(link).toBeVisible({ timeout: 120_000 });
    const href = (await link.getAttribute('href'))!;
    await page.goto(href);

    const health = page.getByRole('region', { name: 'Health' });
    await health.getByRole('button', { name: 'Check' }).click();
    await expect(health.getByRole('status')).toContainText('10 shares of 10 on 10 servers — healthy', {
      timeout: 60_000,
    });

    // Three servers lose their shares of this file.
    let removed = 0;
    for (const dir of grid.dirs.slice(0, 3)) {
      const root = path.join(dir, 'storage', 'shares');
      for (const prefix of await readdir(root)) {
        for (const si of await readdir(path.join(root, prefix))) {
          for (const sh of await readdir(path.join(root, prefix, si))) {
            await rm(path.join(root, prefix, si, sh));
            removed++;
          }
        }
      }
    }
    expect(removed).toBe(3);
    await health.getByRole('button', { name: 'Verify every byte' }).click();
    await expect(health.getByRole('status')).toContainText(
      '7 shares of 10 on 7 servers — readable, but it should be repaired',
      {
        timeout: 60_000,
      },
    );
    await expect(health.getByRole('status')).toContainText('Every byte of every share was read and checked.');
    await health.getByRole('button', { name: 'Repair' }).click();
    await expect(health.getByRole('status')).toContainText('Repaired: 3 new shares stored on 3 servers.', {
      timeout: 60_000,
    });
    await expect(health.getByRole('status')).toContainText('10 shares of 10 on 10 servers — healthy');

    // Keep alive from History: every kept file's lease renewed, progress shown, then a summary.
    await page.getByRole('link', { name: 'History' }).click();
    await page.getByRole('button', { name: 'Keep alive' }).click();
    await expect(page.getByText('Kept alive: 1 of 1 files.')).toBeVisible({ timeout: 60_000 });
    await expect(page.getByRole('alert')).toHaveCount(0);
    await context.close();
  } finally {
    await grid.close();
  }
});
