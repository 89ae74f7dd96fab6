/** Each page's own document title: "<page> — Cairn" (history, tabs and screen readers tell them apart). */
import { createEffect } from 'solid-js';

export const SITE = 'Cairn';

export function pageTitle(page: string): string {
  return `${page} — ${SITE}`;
}

/** Keeps document.title on `page()` while the calling component lives. */
export function usePageTitle(page: () => string): void {
  createEffect(() => {
    document.title = pageTitle(page());
  });
}
