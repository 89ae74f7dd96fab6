/**
 * Errors as a person meets them, on a grid this test controls: each says in plain words what
 * happened and what to do, tells a mistyped link from a damaged one from a grid that is down,
 * gives download advice for downloads and upload advice for uploads, and uses none of the
 * implementation's words (UEB, share, happy, a CLI flag). web/README.md lists these texts.
 */
import { expect, type Page, test } from '@playwright/test';
import { JARGON } from '../../web/store/errors.ts';
import { capOf, openApp, patternBytes, uploadedLink } from './app-helpers.ts';
import { waitFor } from '../harness/wait.ts';
import { startWebGrid } from './web-grid.ts';

/** The alert a Download press ends in, checked for jargon; returns its text. */
async function downloadError(page: Page, href: string): Promise<string> {
  await page.goto(href);
  await page.getByRole('button', { name: 'Download' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible({ timeout: 60_000 });
  const text = (await alert.textContent()) ?? '';
  expect(text, text).not.toMatch(JARGON);
  return text;
}

/** `cap` with one character of its key field changed (a mistyped link). */
function mistyped(cap: string): string {
  const parts = cap.split(':');
  parts[2] = (parts[2][0] === 'a' ? 'b' : 'a') + parts[2].slice(1);
  return parts.join(':');
}

test('errors say what happened and what to do, in plain words', async ({ browser }) => {
  const grid = await startWebGrid(10);
  try {
    await grid.waitForServers(10);
    const host = new URL(grid.url).host;
    const up = await openApp(browser, grid.url);
    await up.page.getByLabel('Choose files to upload').setInputFiles({
      name: 'minutes.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(patternBytes(300_000, 11)),
    });
    const href = await uploadedLink(up.page, 'minutes.bin');
    await up.context.close();
    const cap = capOf(href);
    const { context, page } = await openApp(browser, grid.url);

    // One character changed in the link: no server holds such a file. Not "the grid is down".
    const wrong = await downloadError(page, `${grid.url}#/file/${mistyped(cap)}`);
    expect(wrong).toBe(
      `The download failed: no storage server of the grid at ${host} holds this file. The link may be mistyped or cut short, or the file may be on another grid or may have expired. Check the link with whoever sent it.`,
    );

    // The size field changed: the stored file does not match the link.
    const parts = cap.split(':');
    parts[6] = String(Number(parts[6]) + 1);
    const damaged = await downloadError(page, `${grid.url}#/file/${parts.join(':')}`);
    expect(damaged).toMatch(
      /^The download failed: what the grid holds does not match this link, so the link was changed or damaged/,
    );
    expect(damaged).toContain('Ask whoever sent it for the link again.');

    // Too few servers for an upload: what the settings ask, what to do; no flag, no "happy".
    await Promise.all(grid.nodes.slice(0, 7).map((n) => n.close()));
    await page.goto(grid.url);
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'too-few.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(patternBytes(200_000, 12)),
    });
    const upload = page.getByRole('listitem', { name: 'Upload of too-few.bin' }).getByRole('alert');
    await expect(upload).toHaveText(
      'The upload failed: only 3 storage servers could take the file, and your settings require at least 7. Nothing usable was stored. Try again when more servers are running, or lower “Servers required” in Settings.',
      { timeout: 60_000 },
    );
    expect(await upload.textContent()).not.toMatch(JARGON);

    // Every server down: a download is told the servers are down, with download advice.
    await Promise.all(grid.nodes.slice(7).map((n) => n.close()));
    await waitFor(() => grid.relay.registry.list().length === 0, { what: 'the relay to list no server' });
    const down = await downloadError(page, href);
    // Which of the two depends on whether the tab asked the relay again since (it keeps a list
    // for a few seconds): both say the servers are down, with download advice.
    expect([
      `The download failed: the grid at ${host} has no storage servers running. Try again when its servers are back.`,
      "The download failed: none of the grid's storage servers could be reached, so the file cannot be read now. Check your connection, or try again later: the servers may be down.",
    ]).toContain(down);
    expect(down).not.toMatch(/Settings|Servers required/);
    await context.close();
  } finally {
    await grid.close();
  }
});
