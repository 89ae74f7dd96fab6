/** Light, dark, or follow the system; the choice (never anything secret) sits in localStorage. */
import { createSignal } from 'solid-js';

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'cairn.theme';

export function createThemeSlice() {
  const stored = localStorage.getItem(KEY);
  const initial: ThemeChoice = stored === 'light' || stored === 'dark' ? stored : 'system';
  const [theme, setTheme] = createSignal<ThemeChoice>(initial);
  const apply = (t: ThemeChoice) => {
    document.documentElement.dataset.theme = t;
  };
  apply(initial);
  return {
    theme,
    setTheme(t: ThemeChoice) {
      if (t === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, t);
      apply(t);
      setTheme(t);
    },
  };
}
export type ThemeSlice = ReturnType<typeof createThemeSlice>;
