/**
 * What the page and the service worker say to each other. Downloads and media are named
 * by random ids in same-origin URLs the service worker answers itself; the cap never
 * appears in a URL or a message to the worker, only the bytes (port-stream.ts).
 */

/** Paths (relative to the app's scope) that the service worker answers without the network. */
export const DOWNLOAD_PREFIX = '_cairn/download/';
export const MEDIA_PREFIX = '_cairn/media/';
export const PINNED_PREFIX = '_cairn/pinned/';
export const PIN_CACHE = 'cairn-pinned-v1';
export const SHELL_CACHE_PREFIX = 'cairn-shell-';

export interface FileMeta {
  /** Suggested file name (for Content-Disposition); null when unknown. */
  name: string | null;
  size: number;
  type: string;
}

/**
 * Page -> SW: a download whose bytes come from `stream`, from a pinned copy, or (`viaPort`)
 * from a stream that will arrive on the message's second port (port-stream.ts), sent there
 * by the grid worker directly so the bytes never pass through the page.
 */
export interface RegisterDownload {
  kind: 'download';
  id: string;
  meta: FileMeta;
  stream?: ReadableStream<Uint8Array>;
  pinId?: string;
  viaPort?: boolean;
}

/** Page -> SW: a media source; range reads go back to the page (or to a pinned copy). */
export interface RegisterMedia {
  kind: 'media';
  id: string;
  meta: FileMeta;
  pinId?: string;
}

export interface ForgetMedia {
  kind: 'forget-media';
  id: string;
}

export type PageToWorker = RegisterDownload | RegisterMedia | ForgetMedia;

/** SW -> page, on a MessagePort: read [start, end] inclusive of media `id`; the bytes come back on it (port-stream.ts). */
export interface RangeRequest {
  kind: 'range';
  id: string;
  start: number;
  end: number;
}

/** A random id for a download or media URL: 128 bits, hex. */
export function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
export const isRandomId = (s: string) => /^[0-9a-f]{32}$/.test(s);

/** Pure: parses an HTTP Range header against a size into an inclusive [start, end], or null. */
export function parseRange(
  header: string | null,
  size: number,
): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'invalid';
  return { start, end };
}

/** Pure: a Content-Disposition value that survives any file name (RFC 6266 / 5987). */
export function contentDisposition(name: string | null): string {
  const safe = (name ?? 'download').replace(/[\r\n"\\/]/g, '_');
  const ascii = safe.replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(safe)}`;
}
