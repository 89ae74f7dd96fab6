/**
 * Pinned copies for offline use, in Cache Storage. Each copy is named by a random id
 * (the history record in IndexedDB maps cap -> id), so no URL ever holds a cap. Cache
 * Storage takes a stream straight to disk, so pinning a large file does not fill memory,
 * and the service worker can answer range reads from it.
 */
import { isRandomId, PIN_CACHE, PINNED_PREFIX, randomId } from '../sw/messages.ts';

export const newPinId = randomId;

export function pinUrl(pinId: string, base = document.baseURI): string {
  if (!isRandomId(pinId)) throw new RangeError('pin id must be 32 hex digits');
  return new URL(PINNED_PREFIX + pinId, base).href;
}

/** Stores a copy; `base` is the app's URL (workers pass the page's, having none of their own). */
export async function putPinned(
  pinId: string,
  content: Blob | ReadableStream<Uint8Array>,
  type = 'application/octet-stream',
  base = document.baseURI,
): Promise<void> {
  const cache = await caches.open(PIN_CACHE);
  const headers: Record<string, string> = { 'Content-Type': type };
  if (content instanceof Blob) headers['Content-Length'] = String(content.size);
  await cache.put(pinUrl(pinId, base), new Response(content, { headers }));
}

export async function getPinned(pinId: string): Promise<Response | undefined> {
  const cache = await caches.open(PIN_CACHE);
  return cache.match(pinUrl(pinId));
}

export async function deletePinned(pinId: string): Promise<void> {
  const cache = await caches.open(PIN_CACHE);
  await cache.delete(pinUrl(pinId));
}
