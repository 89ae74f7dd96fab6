/**
 * Cairn's service worker, hand-written (no workbox). It
 *  - precaches the app shell (a versioned cache, listed at build time) so the app starts
 *    offline, and drops older shell caches on activation; pages are network-first, so an
 *    update is picked up on the next load;
 *  - answers `_cairn/download/<id>` with a stream the page hands over, so a download of any
 *    size goes to disk without sitting in memory;
 *  - answers `_cairn/media/<id>` range reads (seeking in video/audio) by asking the page;
 *  - answers `_cairn/pinned/<id>` (range-aware) from the pinned-files cache, offline too.
 * Ids are random; a cap never reaches this worker.
 */
import {
  contentDisposition,
  DOWNLOAD_PREFIX,
  type FileMeta,
  isRandomId,
  MEDIA_PREFIX,
  type PageToWorker,
  PIN_CACHE,
  PINNED_PREFIX,
  parseRange,
  type RangeRequest,
  type RegisterDownload,
  SHELL_CACHE_PREFIX,
} from './messages.ts';
import { receiveStream } from './port-stream.ts';

/** The deployment's settings beside index.html (web/store/deployment.ts; not imported: no DOM here). */
const CONFIG_FILE = 'config.json';

declare const __CAIRN_PRECACHE__: string[];
declare const __CAIRN_VERSION__: string;

const sw = self as unknown as ServiceWorkerGlobalScope;
const SHELL = SHELL_CACHE_PREFIX + __CAIRN_VERSION__;
const scope = () => new URL(sw.registration.scope);

const downloads = new Map<
  string,
  RegisterDownload & { arriving?: Promise<ReadableStream<Uint8Array> | undefined> }
>();
const media = new Map<string, { meta: FileMeta; clientId: string }>();

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      await cache.addAll(__CAIRN_PRECACHE__.map((p) => new URL(p, scope()).href));
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(SHELL_CACHE_PREFIX) && name !== SHELL) await caches.delete(name);
      }
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('message', (event) => {
  const msg = event.data as PageToWorker;
  const reply = event.ports[0];
  if (!msg || typeof msg !== 'object' || !isRandomId(String(msg.id))) return;
  if (msg.kind === 'download') {
    const port = msg.viaPort ? event.ports[1] : undefined;
    const arriving = port ? receiveStream(port).catch(() => undefined) : undefined;
    downloads.set(msg.id, { ...msg, arriving });
  } else if (msg.kind === 'media') {
    const source = event.source as Client | null;
    if (source) media.set(msg.id, { meta: msg.meta, clientId: source.id });
  } else if (msg.kind === 'forget-media') media.delete(msg.id);
  reply?.postMessage({ ok: true });
});

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  const base = scope();
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return;
  const rel = url.pathname.slice(base.pathname.length);
  if (rel.startsWith(DOWNLOAD_PREFIX))
    return event.respondWith(serveDownload(rel.slice(DOWNLOAD_PREFIX.length)));
  if (rel.startsWith(MEDIA_PREFIX)) return event.respondWith(serveMedia(rel.slice(MEDIA_PREFIX.length), req));
  if (rel.startsWith(PINNED_PREFIX)) return event.respondWith(servePinned(req));
  if (req.method !== 'GET') return;
  if (req.mode === 'navigate') return event.respondWith(networkFirstPage(req));
  // The deployment's settings may be edited on the server at any time: the network's copy
  // first, the cached one offline.
  if (rel === CONFIG_FILE) return event.respondWith(networkFirstAsset(req));
  event.respondWith(cacheFirst(req));
});

async function networkFirstAsset(req: Request): Promise<Response> {
  const cache = await caches.open(SHELL);
  try {
    const res = await fetch(req, { cache: 'no-cache' });
    if (res.ok) await cache.put(req, res.clone());
    return res;
  } catch {
    return (await cache.match(req, { ignoreSearch: true })) ?? new Response('{}', { status: 503 });
  }
}

async function networkFirstPage(req: Request): Promise<Response> {
  try {
    return await fetch(req);
  } catch {
    const cache = await caches.open(SHELL);
    return (
      (await cache.match(new URL('index.html', scope()).href)) ??
      new Response('Cairn is offline and its page is not cached yet.', { status: 503 })
    );
  }
}

async function cacheFirst(req: Request): Promise<Response> {
  const cache = await caches.open(SHELL);
  return (await cache.match(req, { ignoreSearch: true })) ?? fetch(req);
}

const notFound = (text: string) =>
  new Response(text, { status: 404, headers: { 'Content-Type': 'text/plain' } });

async function serveDownload(id: string): Promise<Response> {
  const reg = downloads.get(id);
  downloads.delete(id); // one use: a download URL cannot be replayed
  if (!reg) return notFound('This download has expired. Go back and press Download again.');
  let body: ReadableStream<Uint8Array> | null | undefined = reg.stream ?? (await reg.arriving);
  if (!body && reg.pinId) body = (await (await caches.open(PIN_CACHE)).match(pinnedUrl(reg.pinId)))?.body;
  if (!body) return notFound('The pinned copy of this file is gone. Open the file again to download it.');
  return new Response(body, {
    headers: {
      'Content-Type': reg.meta.type || 'application/octet-stream',
      'Content-Length': String(reg.meta.size),
      'Content-Disposition': contentDisposition(reg.meta.name),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

function pinnedUrl(pinId: string): string {
  return new URL(PINNED_PREFIX + pinId, scope()).href;
}

function rangeHeaders(meta: FileMeta, r: { start: number; end: number } | null): Record<string, string> {
  const h: Record<string, string> = {
    'Content-Type': meta.type || 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
  if (r) {
    h['Content-Range'] = `bytes ${r.start}-${r.end}/${meta.size}`;
    h['Content-Length'] = String(r.end - r.start + 1);
  } else h['Content-Length'] = String(meta.size);
  return h;
}

const unsatisfiable = (size: number) =>
  new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}` } });

async function servePinned(req: Request): Promise<Response> {
  const cached = await (await caches.open(PIN_CACHE)).match(req.url);
  if (!cached) return notFound('This file is not pinned in this browser.');
  const blob = await cached.blob();
  const meta = { name: null, size: blob.size, type: cached.headers.get('Content-Type') ?? '' };
  const r = parseRange(req.headers.get('Range'), blob.size);
  if (r === 'invalid') return unsatisfiable(blob.size);
  const body = r ? blob.slice(r.start, r.end + 1) : blob;
  return new Response(body, { status: r ? 206 : 200, headers: rangeHeaders(meta, r) });
}

async function serveMedia(id: string, req: Request): Promise<Response> {
  const reg = media.get(id);
  if (!reg) return notFound('This preview has expired. Reload the page.');
  const r = parseRange(req.headers.get('Range'), reg.meta.size);
  if (r === 'invalid') return unsatisfiable(reg.meta.size);
  const want = r ?? { start: 0, end: reg.meta.size - 1 };
  const client = await sw.clients.get(reg.clientId);
  if (!client) return notFound('The page showing this preview is gone.');
  const channel = new MessageChannel();
  const body = receiveStream(channel.port1);
  const ask: RangeRequest = { kind: 'range', id, start: want.start, end: want.end };
  client.postMessage(ask, [channel.port2]);
  try {
    return new Response(await body, { status: r ? 206 : 200, headers: rangeHeaders(reg.meta, r) });
  } catch (err) {
    return new Response((err as Error).message, { status: 502 });
  }
}
