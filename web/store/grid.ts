/**
 * The grid's servers as the relay announces them. The last list is cached in IndexedDB
 * so the grid page has something to show before (or without) a connection.
 */
import { createStore as createIdbStore, get, set } from 'idb-keyval';
import { createStore } from 'solid-js/store';
import type { SettingsSlice } from './settings.ts';

export interface ServerInfo {
  id: string;
  nickname: string;
  connected: boolean;
  /** Bytes the server still accepts; null when not announced. */
  availableSpace: number | null;
  /** Last measured round trip in ms; null when not measured. */
  rttMs: number | null;
}

interface GridState {
  servers: ServerInfo[];
  /** When the list was last received (ms since epoch), null if never. */
  updated: number | null;
  /** true while showing the cached list rather than a live one. */
  stale: boolean;
  error: string | null;
}

const db = () => createIdbStore('cairn-grid', 'cache');
const CACHE_KEY = 'servers';

export function createGridSlice(_settings: SettingsSlice) {
  const [state, setState] = createStore<GridState>({ servers: [], updated: null, stale: true, error: null });

  async function loadCached() {
    const cached = await get<{ servers: ServerInfo[]; updated: number }>(CACHE_KEY, db()).catch(
      () => undefined,
    );
    if (cached && state.stale) setState({ servers: cached.servers, updated: cached.updated });
  }

  /** Takes a fresh list (from the relay subscription) and caches it. */
  async function receive(servers: ServerInfo[]) {
    const updated = Date.now();
    setState({ servers, updated, stale: false, error: null });
    await set(CACHE_KEY, { servers, updated }, db()).catch(() => {});
  }

  return { state, loadCached, receive, setError: (error: string | null) => setState('error', error) };
}
export type GridSlice = ReturnType<typeof createGridSlice>;
