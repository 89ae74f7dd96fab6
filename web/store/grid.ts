/**
 * The grid's servers: the relay's signed list (followed over its subscription socket),
 * joined with what the grid worker measures (connected, round-trip time, space). The
 * last list is cached in IndexedDB so the grid page has something to show offline.
 */
import { createStore as createIdbStore, get, set } from 'idb-keyval';
import { createStore } from 'solid-js/store';
import type { GridServer } from '../../core/protocol/grid.ts';
import { probeServers } from './client.ts';
import { gridEndpoint, type SettingsSlice } from './settings.ts';

export interface ServerInfo {
  id: string;
  nickname: string;
  /** null until measured. */
  connected: boolean | null;
  /** Bytes the server still accepts; null when not known. */
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
const PROBE_EVERY_MS = 10_000;

/** Pure: the relay's list joined with measurements (by server id), sorted by nickname. */
export function joinServers(
  list: Pick<GridServer, 'serverId' | 'nickname' | 'availableSpace'>[],
  measured: ServerInfo[],
): ServerInfo[] {
  const byId = new Map(measured.map((m) => [m.id, m]));
  return list
    .map((s) => {
      const m = byId.get(s.serverId);
      return {
        id: s.serverId,
        nickname: s.nickname,
        connected: m?.connected ?? null,
        availableSpace: m?.availableSpace ?? s.availableSpace,
        rttMs: m?.rttMs ?? null,
      };
    })
    .sort((a, b) => a.nickname.localeCompare(b.nickname, undefined, { numeric: true }));
}

export function createGridSlice(settings: SettingsSlice) {
  const [state, setState] = createStore<GridState>({ servers: [], updated: null, stale: true, error: null });
  let list: GridServer[] = [];
  let measured: ServerInfo[] = [];

  async function loadCached() {
    const cached = await get<{ servers: ServerInfo[]; updated: number }>(CACHE_KEY, db()).catch(
      () => undefined,
    );
    if (cached && state.stale) setState({ servers: cached.servers, updated: cached.updated });
  }

  function publish() {
    const servers = joinServers(list, measured);
    const updated = Date.now();
    setState({ servers, updated, stale: false });
    void set(CACHE_KEY, { servers, updated }, db()).catch(() => {});
  }

  async function probe() {
    try {
      measured = await probeServers(settings.settings());
      setState('error', null);
      publish();
    } catch (err) {
      setState(
        'error',
        `Could not reach the storage servers: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** Follows the grid while the grid page is open; returns the function that stops it. */
  function follow(): () => void {
    void loadCached();
    let sub: { close(): void } | undefined;
    let stopped = false;
    // Loaded on demand: announcement checking (ed25519, CBOR) is only needed on this page.
    void import('../../core/protocol/grid.ts')
      .then(({ subscribeToGrid }) => {
        if (stopped) return;
        sub = subscribeToGrid(gridEndpoint(settings.settings(), location.href), (servers) => {
          list = servers;
          publish();
          void probe();
        });
      })
      .catch((err) =>
        setState('error', `Cannot follow the grid: ${err instanceof Error ? err.message : String(err)}`),
      );
    const timer = setInterval(() => void probe(), PROBE_EVERY_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
      sub?.close();
    };
  }

  return { state, follow };
}
export type GridSlice = ReturnType<typeof createGridSlice>;
