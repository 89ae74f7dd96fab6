/**
 * Encoding and grid settings. None of them is secret, so they live in localStorage
 * (caps never do). Validation is a pure function so the page and tests share it.
 */
import { createSignal } from 'solid-js';
import { formatGridAddress } from '../../core/client/grid-address.ts';
import { encodingProblems } from '../../core/immutable/params.ts';
import { type GridManagerId, parseGridManagerId } from '../../core/protocol/grid-manager.ts';

export interface Settings {
  /** Shares needed to read a file. */
  k: number;
  /** Distinct servers an upload must reach to succeed (servers of happiness). */
  happy: number;
  /** Shares written in total. */
  n: number;
  /** Convergent encryption: the same file gives the same cap (and is stored once). */
  convergence: boolean;
  /** Overrides the grid found at this page's origin; empty means same-origin. */
  gridUrl: string;
  /**
   * Grid managers whose certified servers alone are used (set by the Join page from an
   * invitation); empty: every server the grid lists.
   */
  gridManagers: GridManagerId[];
}

export const defaultSettings: Settings = {
  k: 3,
  happy: 7,
  n: 10,
  convergence: true,
  gridUrl: '',
  gridManagers: [],
};

export type SettingsErrors = Partial<Record<keyof Settings, string>>;

/** Pure: the problems with a candidate settings object, by field (empty when valid). */
export function validateSettings(s: Settings): SettingsErrors {
  const errors: SettingsErrors = { ...encodingProblems(s) };
  if (s.gridUrl.trim() !== '') {
    const problem = gridUrlProblem(s.gridUrl.trim());
    if (problem) errors.gridUrl = problem;
  }
  for (const id of s.gridManagers) {
    try {
      parseGridManagerId(id);
    } catch (err) {
      errors.gridManagers = (err as Error).message;
    }
  }
  return errors;
}

function gridUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'The grid URL must be a full URL, such as https://grid.example/ or ws://127.0.0.1:3456/.';
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol))
    return 'The grid URL must start with http://, https://, ws:// or wss://.';
  if (url.hash !== '' || url.search !== '' || url.username !== '' || url.password !== '')
    return 'The grid URL must not carry a query, fragment or credentials.';
  return undefined;
}

/** Pure: parses stored JSON, keeping only known fields of the right type. */
export function parseStoredSettings(json: string | null): Settings {
  if (!json) return { ...defaultSettings };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ...defaultSettings };
  }
  if (typeof raw !== 'object' || raw === null) return { ...defaultSettings };
  const r = raw as Record<string, unknown>;
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  const merged: Settings = {
    k: num(r.k, defaultSettings.k),
    happy: num(r.happy, defaultSettings.happy),
    n: num(r.n, defaultSettings.n),
    convergence: typeof r.convergence === 'boolean' ? r.convergence : defaultSettings.convergence,
    gridUrl: typeof r.gridUrl === 'string' ? r.gridUrl : defaultSettings.gridUrl,
    gridManagers:
      Array.isArray(r.gridManagers) && r.gridManagers.every((m) => typeof m === 'string')
        ? (r.gridManagers as GridManagerId[])
        : defaultSettings.gridManagers,
  };
  // A stored value that no longer validates (edited by hand, older rules) falls back whole.
  return Object.keys(validateSettings(merged)).length === 0 ? merged : { ...defaultSettings };
}

/**
 * Pure: the grid address the worker is given: the grid's WebSocket URL, from the override
 * or the page's own origin, with the grid managers to trust (core/client/grid-address.ts).
 */
export function gridEndpoint(settings: Settings, pageUrl: string): string {
  const base = new URL(settings.gridUrl.trim() || pageUrl);
  const url = new URL('/', base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return formatGridAddress({ url: url.href, gridManagers: settings.gridManagers ?? [] });
}

const KEY = 'cairn.settings';

export function createSettingsSlice() {
  const [settings, setSettings] = createSignal<Settings>(parseStoredSettings(localStorage.getItem(KEY)));
  return {
    settings,
    /** Saves valid settings and returns no errors, or returns the errors and keeps the old ones. */
    save(next: Settings): SettingsErrors {
      const errors = validateSettings(next);
      if (Object.keys(errors).length > 0) return errors;
      const clean = { ...next, gridUrl: next.gridUrl.trim() };
      localStorage.setItem(KEY, JSON.stringify(clean));
      setSettings(clean);
      return {};
    },
    reset() {
      localStorage.removeItem(KEY);
      setSettings({ ...defaultSettings });
    },
  };
}
export type SettingsSlice = ReturnType<typeof createSettingsSlice>;
