/**
 * The tab's server-list cache (core/client ServerListCache) in IndexedDB: the relay's signed
 * list per grid URL, so a tab whose relay is down still finds the servers it saw last.
 * Readable from the page and from workers alike.
 */
import { createStore, get, set } from 'idb-keyval';
import type { ServerListCache } from '../../core/client/index.ts';

export function idbServerListCache(): ServerListCache {
  const db = createStore('cairn-server-lists', 'lists');
  return {
    async load(url) {
      return (await get<Uint8Array>(url, db)) ?? null;
    },
    async save(url, list) {
      await set(url, list, db);
    },
  };
}
