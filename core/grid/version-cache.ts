/**
 * Servers' version answers (limits and free space), reused for a few seconds per connection.
 * Selection asks every candidate before each upload; `cp -r` of 1,000 small files asked each
 * server 1,000 times, a request and a statfs each. Tahoe asks once per connection; a few
 * seconds keeps the free space fresh enough, and a server that filled up meanwhile still
 * refuses the allocation (NO_SPACE), which selection handles by placing the share elsewhere.
 */
import type { ServerVersion, StorageServerApi } from '../protocol/storage-api.ts';

export const VERSION_TTL_MS = 5_000;

interface Entry {
  at: number;
  answer: Promise<ServerVersion>;
}

/** Keyed by the connection object: a reconnected server is asked afresh. */
const cache = new WeakMap<StorageServerApi, Entry>();

/** `api.getVersion()`, or an answer (or a call in flight) at most VERSION_TTL_MS old. */
export function cachedVersion(api: StorageServerApi, now = Date.now()): Promise<ServerVersion> {
  const hit = cache.get(api);
  if (hit && now - hit.at < VERSION_TTL_MS) return hit.answer;
  const entry: Entry = { at: now, answer: api.getVersion() };
  cache.set(api, entry);
  // A failed call is not remembered: the next upload asks again.
  entry.answer.catch(() => {
    if (cache.get(api) === entry) cache.delete(api);
  });
  return entry.answer;
}
