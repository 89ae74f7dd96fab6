/** Pure display helpers shared by the pages. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB"; whole bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

/**
 * One formatter for every date shown: toLocaleString with options builds a new one per call,
 * ~0.3 ms each, which a folder of 1,000 rows paid 1,000 times (bench:tree).
 */
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(ms: number): string {
  return dateFormat.format(ms);
}

/** Percent (0-100, whole) of done over total; a zero total counts as complete. */
export function percent(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.floor((done / total) * 100));
}

const MEDIA: Record<string, string> = {
  mp4: 'video/mp4',
  webm: 'video/webm',
  ogv: 'video/ogg',
  mov: 'video/quicktime',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  txt: 'text/plain',
};

/** The MIME type to use for a file: its own when the browser knew it, else from the extension. */
export function mediaType(name: string | null, known?: string): string {
  if (known) return known;
  const ext = name?.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  return (ext && MEDIA[ext]) || 'application/octet-stream';
}

export type PreviewKind = 'video' | 'audio' | 'image' | 'pdf' | null;

export function previewKind(type: string): PreviewKind {
  if (type === 'application/pdf') return 'pdf';
  // SVG can carry script; it is shown as an <img>, where script never runs.
  const top = type.split('/')[0];
  if (top === 'video' || top === 'audio' || top === 'image') return top;
  return null;
}
