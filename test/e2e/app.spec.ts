import { expect, test } from '@playwright/test';

test('the built web app renders in Chromium', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(process.env.CAIRN_URL!);
  await expect(page.getByRole('heading', { name: 'Cairn' })).toBeVisible();
  expect(errors).toEqual([]);
});
