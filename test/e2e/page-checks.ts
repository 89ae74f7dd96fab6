/**
 * What every page of the web app must show whatever the theme and width, for the
 * screenshot tests: the theme's colours really applied, nothing wider than the viewport,
 * and a screenshot kept in the test's own folder under test-results/ for a person to look at.
 */
import { expect, type Page, type TestInfo } from '@playwright/test';

/** The computed page background and text colour of each theme (web/src/styles.css). */
const THEME_COLOURS = {
  light: { background: 'rgb(246, 244, 239)', text: 'rgb(29, 31, 30)' },
  dark: { background: 'rgb(21, 24, 22)', text: 'rgb(233, 235, 232)' },
} as const;

/** The page is drawn in `scheme`'s colours (the theme choice being "system", which follows it). */
export async function expectThemeColours(page: Page, scheme: 'light' | 'dark'): Promise<void> {
  await expect(page.getByLabel('Theme')).toHaveValue('system');
  const seen = await page.evaluate(() => {
    const root = getComputedStyle(document.documentElement);
    const main = document.querySelector('main');
    const heading = document.querySelector('h1');
    return {
      background: root.backgroundColor,
      text: root.color,
      main: main ? getComputedStyle(main).color : null,
      heading: heading ? getComputedStyle(heading).color : null,
    };
  });
  const want = THEME_COLOURS[scheme];
  expect(seen, `${scheme} theme colours`).toEqual({
    background: want.background,
    text: want.text,
    main: want.text,
    heading: want.text,
  });
}

/**
 * Nothing sticks out to the right of the viewport: the document does not scroll sideways,
 * and no visible element, nor content spilling out of one, reaches past the right edge
 * (content inside a box that scrolls or clips sideways, such as the grid table's wrapper,
 * is that box's business).
 */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  const found = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const clipsSideways = (el: Element) => getComputedStyle(el).overflowX !== 'visible';
    const inClippingBox = (el: Element) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        if (clipsSideways(p)) return true;
      }
      return false;
    };
    const describe = (el: Element) => {
      const cls = el.getAttribute('class');
      const text = (el.textContent ?? '').trim().slice(0, 40);
      return `<${el.tagName.toLowerCase()}${cls ? ` class="${cls}"` : ''}> "${text}"`;
    };
    const wide: string[] = [];
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      if (inClippingBox(el)) continue;
      // Its box, or content spilling out of it (a line that cannot wrap).
      const spill = el.clientWidth > 0 && !clipsSideways(el) ? box.left + el.scrollWidth : box.right;
      const right = Math.max(box.right, spill);
      if (right > width + 0.5) wide.push(`${describe(el)} reaches ${Math.round(right)} px`);
    }
    return { width, scrollWidth: document.documentElement.scrollWidth, wide };
  });
  expect(found.wide, `elements wider than the ${found.width} px viewport`).toEqual([]);
  expect(found.scrollWidth, 'the page scrolls sideways').toBeLessThanOrEqual(found.width);
}

/** A full-page screenshot in this test's output folder (test-results/<test>/NAME.png). */
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
}
