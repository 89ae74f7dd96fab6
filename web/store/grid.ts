/**
 * The grid as this browser sees it, for the configured grid only: whether its relay
 * answers, and every server known to be part of it — the ones the relay lists now and the
 * ones it listed before (a stopped server leaves the relay's list, but it is still part of
 * the grid and people want to see it is down). Each is connected, unreachable or refusing,
 * with when it last answered. Known servers are kept per grid in IndexedDB, so a fresh tab,
 * or one offline, still shows what it knew and says how old that is.
 */
import { createStore as createIdbStore, get, set } from 'idb-keyval';
import { createStore } from 'solid-js/store';
import type { ServerStatus } from '../../core/client/index.ts';
import { surveyGrid } from './client.ts';

export type ServerState = 'connected' | 'unreachable' | 'refusing' | 'checking';

export interface ServerInfo {
  id: string;
  nickname: string;
  state: ServerState;
  /** When this browser last had an answer from it (ms since the epoch); null: never. */
  lastSeen: number | null;
  /** The relay lists it now (false: it left the list, e.g. stopped). */
  listed: boolean;
  /** Bytes it still accepts; null when not known. */
  availableSpace: number | null;
  /** Last measured round trip in ms; null when not measured now. */
  rttMs: number | null;
}

export interface GridState {
  /** The grid (relay WebSocket URL) this state is about. */
  grid: string;
  servers: ServerInfo[];
  relay: 'checking' | 'reached' | 'unreachable';
  /** When the last look at the grid ended (ms since epoch); null before the first. */
  checkedAt: number | null;
  /** True while a look is under way. */
  checking: boolean;
}

/** What is kept per grid: the servers seen, with when. */
interface KnownServer {
  id: string;
  nickname: string;
  lastSeen: number | null;
  lastListed: number;
}

/** A server not listed and not seen for this long is forgotten. */
export const FORGET_AFTER_MS = 30 * 24 * 3600 * 1000;

const db = () => createIdbStore('cairn-grid', 'known-servers');

/**
 * Pure: what the grid looks like after a survey: the servers surveyed (listed now, or listed
 * last when the relay did not answer) with their state, joined with the servers known from
 * before, which count as unreachable. Sorted by nickname. Returns the list to show and the
 * list to keep.
 */
export function joinSurvey(
  known: KnownServer[],
  surveyed: ServerStatus[] | null,
  relayReached: boolean,
  now: number,
): { shown: ServerInfo[]; keep: KnownServer[] } {
  const byId = new Map(known.map((k) => [k.id, k]));
  const shown: ServerInfo[] = [];
  const keep: KnownServer[] = [];
  const seenNow = new Set<string>();
  for (const s of surveyed ?? []) {
    seenNow.add(s.id);
    const before = byId.get(s.id);
    const lastSeen = s.connected ? now : (before?.lastSeen ?? null);
    shown.push({
      id: s.id,
      nickname: s.nickname,
      state: s.connected ? 'connected' : s.refusing ? 'refusing' : 'unreachable',
      lastSeen,
      // On the relay's list: the one it gave now, or (relay unreachable) the one it gave last.
      listed: true,
      availableSpace: s.availableSpace,
      rttMs: s.connected ? s.rttMs : null,
    });
    keep.push({
      id: s.id,
      nickname: s.nickname,
      lastSeen,
      lastListed: relayReached ? now : (before?.lastListed ?? now),
    });
  }
  for (const k of known) {
    if (seenNow.has(k.id)) continue;
    if (now - Math.max(k.lastSeen ?? 0, k.lastListed) > FORGET_AFTER_MS) continue;
    shown.push({
      id: k.id,
      nickname: k.nickname,
      state: surveyed === null ? 'checking' : 'unreachable',
      lastSeen: k.lastSeen,
      listed: false,
      availableSpace: null,
      rttMs: null,
    });
    keep.push(k);
  }
  const byName = (a: { nickname: string; id: string }, b: { nickname: string; id: string }) =>
    a.nickname.localeCompare(b.nickname, undefined, { numeric: true }) || a.id.localeCompare(b.id);
  shown.sort(byName);
  keep.sort(byName);
  return { shown, keep };
}

/** Pure: "just now", "3 min ago", "2 h ago", "5 days ago", or "never". */
export function seenAgo(then: number | null, now: number): string {
  if (then === null) return 'never';
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 15) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

/** Looks again this often while someone watches (the Grid page; the Upload page less often). */
const SURVEY_EVERY_MS = 10_000;

export function createGridSlice(gridUrl: () => string) {
  const [state, setState] = createStore<GridState>({
    grid: '',
    servers: [],
    relay: 'checking',
    checkedAt: null,
    checking: false,
  });
  let known: KnownServer[] = [];
  let loaded: Promise<void> = Promise.resolve();
  let running: Promise<void> | null = null;

  /** Starts afresh on `grid`: what is known about it, nothing about any other grid. */
  function switchTo(grid: string) {
    if (state.grid === grid) return;
    known = [];
    setState({ grid, servers: [], relay: 'checking', checkedAt: null, checking: false });
    loaded = get<KnownServer[]>(grid, db())
      .then((k) => {
        if (state.grid !== grid || !Array.isArray(k)) return;
        known = k;
        if (state.checkedAt === null) setState('servers', joinSurvey(known, null, false, Date.now()).shown);
      })
      .catch(() => {});
  }

  /** One look at the grid now (a look already under way is joined, not repeated). */
  function survey(): Promise<void> {
    const grid = gridUrl();
    switchTo(grid);
    running ??= (async () => {
      setState('checking', true);
      await loaded;
      let surveyed: ServerStatus[] | null = null;
      let reached = false;
      try {
        if (typeof navigator !== 'undefined' && navigator.onLine === false) throw new Error('offline');
        const r = await surveyGrid(grid);
        surveyed = r.servers;
        reached = r.relayReached;
      } catch {
        surveyed = null;
      }
      if (state.grid !== grid) return;
      const now = Date.now();
      const { shown, keep } = joinSurvey(known, surveyed ?? [], reached, now);
      known = keep;
      setState({
        servers: shown,
        relay: reached ? 'reached' : 'unreachable',
        checkedAt: now,
        checking: false,
      });
      void set(grid, keep, db()).catch(() => {});
    })().finally(() => {
      running = null;
      setState('checking', false);
    });
    return running;
  }

  /** Surveys now and every `everyMs` until the returned function is called (a page's lifetime). */
  function follow(everyMs = SURVEY_EVERY_MS): () => void {
    void survey();
    const timer = setInterval(() => void survey(), everyMs);
    const again = () => void survey();
    window.addEventListener('online', again);
    return () => {
      clearInterval(timer);
      window.removeEventListener('online', again);
    };
  }

  /** Servers connected now (for the Upload page's warning); null before the first look ends. */
  const reachable = () =>
    state.checkedAt === null ? null : state.servers.filter((s) => s.state === 'connected').length;

  return { state, survey, follow, reachable, switchTo };
}
export type GridSlice = ReturnType<typeof createGridSlice>;
