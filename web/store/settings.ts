/**
 * Encoding and grid settings. None of them is secret, so they live in localStorage
 * (caps never do). Validation is a pure function so the page and tests share it.
 */
import { createSignal } from 'solid-js';
import { formatGridAddress, parseGridAddress } from '../../core/client/grid-address.ts';
import { encodingProblems } from '../../core/immutable/params.ts';
import { type GridManagerId, parseGridManagerId } from '../../core/protocol/grid-manager.ts';
import { deploymentConfig } from './deployment.ts';

export interface Settings {
  /** Shares needed to read a file. */
  k: number;
  /** Distinct servers an upload must reach to succeed (servers of happiness). */
  happy: number;
  /** Shares written in total. */
  n: number;
  /** Convergent encryption: the same file gives the same cap (and is stored once). */
  convergence: boolean;
  /** Overrides the deployment's grid (config.json) or this page's origin; empty: no override. */
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

/** The fields of the encoding, in the order the form shows them. */
export const ENCODING_FIELDS = ['k', 'happy', 'n'] as const;

/**
 * Pure: the problems with a candidate settings object, by field (empty when valid). Each
 * message sits on a field the person can change to fix it, says what is wrong in plain
 * words (none of k, happy, N or "share"), and a rule broken between two fields marks both.
 * The rule is core's (encodingProblems): 1 <= k <= happy <= N <= 256.
 */
export function validateSettings(s: Settings): SettingsErrors {
  const errors: SettingsErrors = {};
  const ok = (v: number) => Number.isSafeInteger(v) && v >= 1 && v <= 256;
  const range = 'Enter a whole number from 1 to 256.';
  if (!ok(s.k)) errors.k = range;
  if (!ok(s.happy)) errors.happy = range;
  if (!ok(s.n)) errors.n = range;
  if (!errors.k && !errors.happy && !errors.n) {
    if (s.k > s.n) {
      errors.k = `This is more than the total below (${s.n}): a file is read back from this many of its pieces, so lower this number or raise the total.`;
      errors.n = `This is less than the number needed to read a file (${s.k}): raise it to at least ${s.k}, or lower that number.`;
    } else if (s.k > s.happy) {
      errors.k = `This is more than the servers required below (${s.happy}): lower this number, or raise that one to at least ${s.k}.`;
      errors.happy = `This must be at least the number needed to read a file (${s.k}): fewer servers could not hold enough pieces to rebuild it.`;
    }
    if (s.happy > s.n) {
      errors.happy = `This is more than the total below (${s.n}): there are only that many pieces to place, so lower this number or raise the total.`;
      errors.n ??= `This is less than the servers required (${s.happy}): raise it to at least ${s.happy}, or lower that number.`;
    }
    // Core's rule is the authority: anything it refuses that the words above missed still shows.
    const core = encodingProblems(s);
    for (const f of ENCODING_FIELDS) if (core[f] && !errors[f]) errors[f] = range;
  }
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
    return 'Enter a full web address, such as https://grid.example/ or ws://127.0.0.1:3456/.';
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol))
    return 'The address must start with http://, https://, ws:// or wss://.';
  if (url.hash !== '' || url.search !== '' || url.username !== '' || url.password !== '')
    return 'Leave out anything after ? or #, and any user name or password.';
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
 * Pure: the grid address the worker is given: the grid's WebSocket URL (this browser's
 * override in Settings, else the deployment's config.json, else the page's own origin) with
 * the grid managers to trust (core/client/grid-address.ts).
 */
export function gridEndpoint(settings: Settings, pageUrl: string, deploymentGrid?: string): string {
  return formatGridAddress({
    url: wsEndpoint(settings.gridUrl.trim() || deploymentGrid || pageUrl),
    gridManagers: settings.gridManagers ?? [],
  });
}

/** Pure: any grid URL (http, https, ws, wss, with or without a path) as the relay's WebSocket root. */
export function wsEndpoint(gridUrl: string): string {
  const base = new URL(parseGridAddress(gridUrl).url);
  const url = new URL('/', base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.href;
}

/** Pure: the grid a link should name: none when it is the page's own, else its http(s) address. */
export function linkGrid(grid: string, pageUrl: string): string | undefined {
  const url = wsEndpoint(grid);
  if (url === wsEndpoint(pageUrl)) return undefined;
  return url.replace(/^ws(s?):/, 'http$1:');
}

/** The grid this browser uses for its own uploads and for links that name no grid. */
export function currentGrid(settings: Settings): string {
  return gridEndpoint(settings, location.href, deploymentConfig().grid);
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
