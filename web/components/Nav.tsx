/** Site header: the brand, page links (current one marked), and the theme switch. */
import { For, Show } from 'solid-js';
import { useStore } from '../store/index.tsx';
import type { ThemeChoice } from '../store/theme.ts';

const LINKS = [
  { href: '#/', name: 'home', label: 'Upload' },
  { href: '#/files', name: 'files', label: 'My files' },
  { href: '#/history', name: 'history', label: 'History' },
  { href: '#/grid', name: 'grid', label: 'Grid' },
  { href: '#/settings', name: 'settings', label: 'Settings' },
] as const;

export function Nav() {
  const { router, theme, device } = useStore();
  return (
    <header class="site-header">
      <a class="brand" href="#/" aria-label="Cairn home">
        <img src="./icons/icon.svg" alt="" width="28" height="28" />
        <span>Cairn</span>
      </a>
      <nav aria-label="Main">
        <ul>
          <For each={LINKS}>
            {(link) => (
              <li>
                <a href={link.href} aria-current={router.route().name === link.name ? 'page' : undefined}>
                  {link.label}
                </a>
              </li>
            )}
          </For>
        </ul>
      </nav>
      <label class="theme-pick">
        <span class="visually-hidden">Theme</span>
        <select value={theme.theme()} onChange={(e) => theme.setTheme(e.currentTarget.value as ThemeChoice)}>
          <option value="system">System theme</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
      {/* A live region that is always there, so going offline (or back) is announced. */}
      <p class="offline-note" aria-live="polite" classList={{ shown: !device.online() }}>
        <Show when={!device.online()}>
          <strong>Offline.</strong> Uploads and files not pinned wait until you are back online; pinned files
          still open.
        </Show>
      </p>
    </header>
  );
}
