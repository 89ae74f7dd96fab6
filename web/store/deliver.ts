/**
 * Handing bytes to the user without holding a whole file in memory: downloads go to
 * disk through the service worker (a stream transferred to it, served at a random
 * same-origin URL), or through the File System Access API when no service worker
 * controls the page. Media previews get range reads the same way.
 */
import {
  DOWNLOAD_PREFIX,
  type FileMeta,
  MEDIA_PREFIX,
  PIN_CACHE,
  type PageToWorker,
  type RangeRequest,
  randomId,
} from '../sw/messages.ts';
import { receiveStream, type StreamReply } from '../sw/port-stream.ts';
import { pinUrl } from './pins.ts';

export type DownloadSource =
  | { stream: ReadableStream<Uint8Array> }
  | { pinId: string }
  /** Asks the grid worker to send the bytes on `port` (port-stream.ts; see RegisterDownload). */
  | { toPort(port: MessagePort): Promise<void> };

/** Receives a stream that a worker sends on a port (for routes without a service worker). */
async function streamFromPort(source: { toPort(port: MessagePort): Promise<void> }) {
  const channel = new MessageChannel();
  const stream = receiveStream(channel.port1);
  // A worker that fails answers on the port and rejects toPort too: the caller hears it once.
  stream.catch(() => {});
  await source.toPort(channel.port2);
  return stream;
}

/**
 * The service worker controlling this page. On a first visit it takes control a moment
 * after installing (clients.claim), so wait briefly for that rather than fall back.
 */
async function controller(waitMs = 3_000): Promise<ServiceWorker | null> {
  const container = navigator.serviceWorker;
  if (!container) return null;
  if (container.controller) return container.controller;
  if (!(await container.getRegistration())) return null;
  await Promise.race([
    new Promise((resolve) => container.addEventListener('controllerchange', resolve, { once: true })),
    new Promise((resolve) => setTimeout(resolve, waitMs)),
  ]);
  return container.controller;
}

async function tellWorker(msg: PageToWorker, transfer: Transferable[] = []): Promise<void> {
  const sw = await controller();
  if (!sw) throw new Error('no service worker controls this page');
  const channel = new MessageChannel();
  const ack = new Promise<void>((resolve) => {
    channel.port1.onmessage = () => resolve();
  });
  sw.postMessage(msg, [channel.port2, ...transfer]);
  await ack;
  channel.port1.close();
}

function clickLink(href: string, name: string | null) {
  const a = document.createElement('a');
  a.href = href;
  a.download = name ?? '';
  a.rel = 'noreferrer';
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
}

type SavePicker = (opts: { suggestedName?: string }) => Promise<FileSystemFileHandle>;

/** Where this browser can stream a download to, best first. */
export async function downloadRoute(): Promise<'service-worker' | 'file-system' | 'memory'> {
  if (await controller()) return 'service-worker';
  if ('showSaveFilePicker' in window) return 'file-system';
  return 'memory';
}

/**
 * Saves the file; resolves once the browser has taken the download (service worker) or
 * the bytes are written (File System Access). The last resort for browsers with neither
 * builds a Blob in memory.
 */
export async function saveFile(source: DownloadSource, meta: FileMeta): Promise<void> {
  const route = await downloadRoute();
  if (route === 'service-worker') {
    const id = randomId();
    if ('stream' in source) {
      await tellWorker({ kind: 'download', id, meta, stream: source.stream }, [source.stream]);
    } else if ('pinId' in source) {
      await tellWorker({ kind: 'download', id, meta, pinId: source.pinId });
    } else {
      // Both at once: the grid worker finds the file while the service worker takes note of
      // the download (what the worker sends waits on the port until it is read).
      const channel = new MessageChannel();
      await Promise.all([
        tellWorker({ kind: 'download', id, meta, viaPort: true }, [channel.port1]),
        source.toPort(channel.port2),
      ]);
    }
    // A hidden iframe navigation, not <a download>: Chromium fetches <a download> targets
    // in its download manager, bypassing the service worker. The frame stays: removing
    // it could end a long download.
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.title = 'download';
    frame.src = new URL(DOWNLOAD_PREFIX + id, document.baseURI).href;
    document.body.append(frame);
    return;
  }
  const stream =
    'stream' in source
      ? source.stream
      : 'pinId' in source
        ? await pinnedStream(source.pinId)
        : await streamFromPort(source);
  if (route === 'file-system') {
    const pick = (window as unknown as { showSaveFilePicker: SavePicker }).showSaveFilePicker;
    const handle = await pick({ suggestedName: meta.name ?? 'download' });
    await stream.pipeTo(await handle.createWritable());
    return;
  }
  const blob = await new Response(stream, { headers: { 'Content-Type': meta.type } }).blob();
  const url = URL.createObjectURL(blob);
  clickLink(url, meta.name);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function pinnedStream(pinId: string): Promise<ReadableStream<Uint8Array>> {
  const res = await fetch(pinUrl(pinId)).catch(() => undefined);
  if (res?.ok && res.body) return res.body;
  const cached = await (await caches.open(PIN_CACHE)).match(pinUrl(pinId));
  if (!cached?.body) throw new Error('the pinned copy is gone from this browser');
  return cached.body;
}

/** Answers a range read by sending the bytes on `port` (port-stream.ts; usually from the grid worker). */
export type RangeReader = (start: number, end: number, port: MessagePort) => Promise<void>;

const mediaReaders = new Map<string, RangeReader>();
let listening = false;

function listen() {
  if (listening || !navigator.serviceWorker) return;
  listening = true;
  navigator.serviceWorker.addEventListener('message', async (event) => {
    const msg = event.data as RangeRequest;
    const port = event.ports[0];
    if (msg?.kind !== 'range' || !port) return;
    const read = mediaReaders.get(msg.id);
    try {
      if (!read) throw new Error('this preview is closed');
      await read(msg.start, msg.end, port);
    } catch (err) {
      // (If the port already went to the worker, the worker has answered on it.)
      const reply: StreamReply = { ok: false, message: err instanceof Error ? err.message : String(err) };
      port.postMessage(reply);
    }
  });
}

/**
 * A URL for <video>/<audio>/<img>/<iframe> whose range reads come back to `read`.
 * Returns null when no service worker controls the page.
 */
export async function mediaUrl(
  meta: FileMeta,
  read: RangeReader,
): Promise<{ url: string; close(): void } | null> {
  if (!(await controller())) return null;
  listen();
  const id = randomId();
  mediaReaders.set(id, read);
  await tellWorker({ kind: 'media', id, meta });
  return {
    url: new URL(MEDIA_PREFIX + id, document.baseURI).href,
    close() {
      mediaReaders.delete(id);
      void tellWorker({ kind: 'forget-media', id }).catch(() => {});
    },
  };
}

export async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('./sw.js', { scope: './' });
  } catch (err) {
    console.warn(
      'Cairn: the service worker did not register; offline use and streamed downloads are off.',
      err,
    );
  }
}
