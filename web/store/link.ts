/**
 * What a file link says besides its cap, in the fragment (router.ts has the syntax): pure
 * checks and formatting with no DOM and no Solid, so the build config (config.json) and the
 * unit tests use them too.
 */
/** What a link says about its file besides the cap: all optional, all unverified claims. */
export interface LinkHint {
  /** The file's name as the sender gave it. */
  name?: string;
  /** Its media type (e.g. image/png), for previews and the saved file. */
  type?: string;
  /** The grid holding it (a relay URL), when that is not the one the page would use. */
  grid?: string;
}

/** Longest file name a link may carry (characters); longer names are cut. */
export const MAX_LINK_NAME = 255;

/**
 * Pure: a name fit to show and to save under. Control characters and Unicode direction
 * overrides (which can make "exe.jpg" read as "gpj.exe") go, as do path separators; a name
 * that is empty or only dots afterwards is no name.
 */
export function cleanFileName(raw: string | null | undefined): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const cleaned = raw
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g, '')
    .replace(/[/\\]/g, '_')
    .trim();
  const cut = Array.from(cleaned).slice(0, MAX_LINK_NAME).join('');
  return cut === '' || /^\.+$/.test(cut) ? undefined : cut;
}

/** Pure: a media type as `top/sub` in lower case, or undefined for anything else. */
export function cleanMediaType(raw: string | null | undefined): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const t = raw.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/.test(t) ? t : undefined;
}

/** Pure: a grid (relay) URL: http(s) or ws(s), no credentials, query or fragment; else undefined. */
export function cleanGridUrl(raw: string | null | undefined): string | undefined {
  if (typeof raw !== 'string' || raw.length > 2048) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) return undefined;
  if (url.username || url.password || url.search || url.hash) return undefined;
  return url.href;
}

/** Pure: the hint in a link's query part (after `?`). */
export function parseHint(query: string): LinkHint {
  const params = new URLSearchParams(query);
  const hint: LinkHint = {};
  const name = cleanFileName(params.get('name'));
  const type = cleanMediaType(params.get('type'));
  const grid = cleanGridUrl(params.get('grid'));
  if (name !== undefined) hint.name = name;
  if (type !== undefined) hint.type = type;
  if (grid !== undefined) hint.grid = grid;
  return hint;
}

/** Pure: the query part for a hint ('' when it says nothing); values percent-encoded. */
export function formatHint(hint: LinkHint): string {
  const parts: string[] = [];
  const name = cleanFileName(hint.name);
  const type = cleanMediaType(hint.type);
  const grid = cleanGridUrl(hint.grid);
  if (name !== undefined) parts.push(`name=${encodeURIComponent(name)}`);
  if (type !== undefined && type !== 'application/octet-stream')
    parts.push(`type=${encodeURIComponent(type)}`);
  if (grid !== undefined) parts.push(`grid=${encodeURIComponent(grid)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
