/**
 * Accessibility, checked by axe-core (@axe-core/playwright) in Debian's Chromium: every page
 * of the app, in the light and the dark theme and at a phone's 375 px width, has no serious
 * or critical violation of WCAG 2.1 A/AA; each page has its own title.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { openApp, uploadedLink } from './app-helpers.ts';

const base = () => process.env.CAIRN_URL!;

/** Serious and critical violations on the page as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('no serious or critical axe violation on any page, light and dark, wide and 375 px; each page its own title', async ({
  browser,
}) => {
  // 32 axe runs (8 states of 7 pages, by 2 themes and 2 widths) on a shared machine.
  test.setTimeout(900_000);
  // Something to show: a stored file (its card, its page, a History row) and the My files folder.
  const up = await openApp(browser, base());
  await up.page.getByLabel('Choose files to upload').setInputFiles({
    name: 'report.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('A report, in plain text.\n'.repeat(200)),
  });
  const link = await uploadedLink(up.page, 'report.txt');
  const fileHash = new URL(link).hash;
  const pages: { hash: string; title: string; ready: (p: Page) => Promise<void> }[] = [
    {
      hash: '#/',
      title: 'Upload — Cairn',
      ready: (p) => expect(p.getByRole('listitem', { name: 'Upload of report.txt' })).toBeVisible(),
    },
    {
      hash: fileHash,
      title: 'report.txt — Cairn',
      ready: (p) =>
        expect(p.getByRole('figure', { name: 'Preview of report.txt' })).toContainText('A report'),
    },
    {
      hash: '#/history',
      title: 'History — Cairn',
      ready: (p) => expect(p.getByRole('link', { name: 'report.txt' })).toBeVisible(),
    },
    {
      hash: '#/files',
      title: 'My files — Cairn',
      ready: (p) => expect(p.getByRole('heading', { level: 1, name: 'My files' })).toBeVisible(),
    },
    {
      hash: '#/grid',
      title: 'Grid — Cairn',
      ready: (p) =>
        expect(p.getByRole('status')).toHaveText(/^\d+ of \d+ servers connected/, { timeout: 30_000 }),
    },
    {
      hash: '#/settings',
      title: 'Settings — Cairn',
      ready: (p) => expect(p.getByLabel('Shares needed (k)')).toBeVisible(),
    },
    {
      hash: '#/no-such-page',
      title: 'Page not found — Cairn',
      ready: (p) => expect(p.getByRole('heading', { level: 1 })).toBeVisible(),
    },
  ];
  const found: string[] = [];
  const titles = new Set<string>();
  for (const scheme of ['light', 'dark'] as const) {
    for (const width of [1280, 375]) {
      await up.page.emulateMedia({ colorScheme: scheme });
      await up.page.setViewportSize({ width, height: width === 375 ? 740 : 900 });
      for (const pg of pages) {
        await up.page.goto(`${base()}${pg.hash}`);
        await pg.ready(up.page);
        await expect(up.page).toHaveTitle(pg.title);
        titles.add(await up.page.title());
        for (const v of await violations(up.page))
          found.push(`${pg.hash.slice(0, 12)} ${scheme} ${width}px: ${v}`);
      }
      // The settings page with its errors showing, too.
      await up.page.goto(`${base()}#/settings`);
      await up.page.getByLabel('Shares needed (k)').fill('20');
      await up.page.getByRole('button', { name: 'Save settings' }).click();
      await expect(up.page.locator('.error-summary')).toBeVisible();
      for (const v of await violations(up.page))
        found.push(`settings with errors ${scheme} ${width}px: ${v}`);
    }
  }
  expect(found, found.join('\n')).toEqual([]);
  expect(titles.size).toBe(pages.length);
  await up.context.close();
});
