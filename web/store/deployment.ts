/**
 * The deployment's own settings: `config.json` beside index.html, `{"grid": "https://relay.example"}`.
 * `npm run build` writes it from the CAIRN_GRID environment variable (empty when unset) and
 * whoever hosts the bundle may edit it by hand. It names the grid every visitor of that
 * deployment uses unless they set another in Settings; without it (or with an empty grid) the
 * grid is the page's own server, as when the relay serves the app itself.
 */
import { cleanGridUrl } from './link.ts';

export interface DeploymentConfig {
  /** The grid (relay) URL for this deployment; undefined: the page's own origin. */
  grid?: string;
}

export const CONFIG_FILE = 'config.json';

/** Pure: the config in a config.json text; anything malformed counts as no config. */
export function parseDeploymentConfig(text: string | null | undefined): DeploymentConfig {
  if (!text) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof raw !== 'object' || raw === null) return {};
  const grid = cleanGridUrl((raw as { grid?: unknown }).grid as string | undefined);
  return grid ? { grid } : {};
}

/**
 * Pure: config.json's text for a build, from the CAIRN_GRID value (build time). Throws a
 * message for the person running the build when the value is not a usable grid URL.
 */
export function deploymentConfigJson(cairnGrid: string | undefined): string {
  const value = (cairnGrid ?? '').trim();
  if (value !== '' && !cleanGridUrl(value)) {
    throw new Error(
      `CAIRN_GRID must be the grid's relay URL, such as https://relay.example (http, https, ws or wss; no query or fragment), not '${value}'`,
    );
  }
  return `${JSON.stringify({ grid: value === '' ? '' : cleanGridUrl(value) }, null, 2)}\n`;
}

let current: DeploymentConfig = {};

/** The config loaded at start-up (empty until loadDeploymentConfig has run, or without one). */
export function deploymentConfig(): DeploymentConfig {
  return current;
}

/**
 * Reads config.json once, before the app starts. The service worker answers it network
 * first (an edit on the server is seen on the next load) and from its cache offline. A
 * missing or unreadable file, or one that takes over `timeoutMs`, means no config.
 */
export async function loadDeploymentConfig(timeoutMs = 3_000): Promise<DeploymentConfig> {
  try {
    const res = await fetch(new URL(CONFIG_FILE, document.baseURI), {
      cache: 'no-cache',
      signal: AbortSignal.timeout(timeoutMs),
    });
    current = res.ok ? parseDeploymentConfig(await res.text()) : {};
  } catch {
    current = {};
  }
  return current;
}
