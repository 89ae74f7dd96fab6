/**
 * History: every upload and opened cap, kept in the user's own IndexedDB (idb-keyval),
 * the only place a cap is ever stored. Changes are optimistic: the view updates at once
 * and rolls back if IndexedDB refuses.
 */
import { createStore as createIdbStore, del, entries, get, set, update } from 'idb-keyval';
import { createStore, produce, reconcile } from 'solid-js/store';
import { deletePinned, newPinId } from './pins.ts';

export interface HistoryRecord {
  /** Read cap; also the record's key. */
  cap: string;
  /** File name when known (uploads, or a name the user gave); caps do not carry names. */
  name: string | null;
  size: number;
  /** Last upload or open, ms since the epoch. */
  date: number;
  via: 'upload' | 'open';
  pinned: boolean;
  /** Random id naming the pinned copy in Cache Storage (never the cap). */
  pinId?: string;
  /** MIME type when known, for previews. */
  type?: string;
  /** The grid holding the file (relay WebSocket URL), when known: where it was uploaded or the link's. */
  grid?: string;
}

export type HistorySort = 'newest' | 'oldest' | 'name' | 'largest';

/**
 * Pure: the records to show for a search and a sort. The search matches names (and "unnamed"
 * for files without one), any case, every word; never caps.
 */
export function viewHistory(
  records: readonly HistoryRecord[],
  query: string,
  sort: HistorySort,
): HistoryRecord[] {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  const label = (r: HistoryRecord) => (r.name ?? 'unnamed file').toLocaleLowerCase();
  const out = records.filter((r) => words.every((w) => label(r).includes(w)));
  const byName = (a: HistoryRecord, b: HistoryRecord) =>
    label(a).localeCompare(label(b), undefined, { numeric: true }) || b.date - a.date;
  switch (sort) {
    case 'oldest':
      return out.sort((a, b) => a.date - b.date);
    case 'name':
      return out.sort(byName);
    case 'largest':
      return out.sort((a, b) => b.size - a.size || b.date - a.date);
    default:
      return out.sort((a, b) => b.date - a.date);
  }
}

const db = () => createIdbStore('cairn-history', 'records');

export async function readHistoryRecord(cap: string): Promise<HistoryRecord | undefined> {
  return get<HistoryRecord>(cap, db());
}

/** Newest first. */
export function sortHistory(records: HistoryRecord[]): HistoryRecord[] {
  return [...records].sort((a, b) => b.date - a.date);
}

/** Pure: merges a fresh sighting into what was known (keeps a known name and the pin). */
export function mergeRecord(old: HistoryRecord | undefined, seen: HistoryRecord): HistoryRecord {
  if (!old) return seen;
  return {
    ...old,
    ...seen,
    name: seen.name ?? old.name,
    type: seen.type ?? old.type,
    grid: seen.grid ?? old.grid,
    via: old.via === 'upload' ? 'upload' : seen.via,
    pinned: old.pinned,
    pinId: old.pinId,
  };
}

export function createHistorySlice() {
  const [state, setState] = createStore<{ records: HistoryRecord[]; loaded: boolean; error: string | null }>({
    records: [],
    loaded: false,
    error: null,
  });

  const replace = (rec: HistoryRecord) =>
    setState(
      'records',
      produce((list) => {
        const i = list.findIndex((r) => r.cap === rec.cap);
        if (i >= 0) list[i] = rec;
        else list.push(rec);
        list.sort((a, b) => b.date - a.date);
      }),
    );
  const snapshot = () => state.records.map((r) => ({ ...r }));

  // Writes to IndexedDB run one at a time, in the order the user acted: an unpin still being
  // written cannot land after a forget and bring the record back. (The view changes at once.)
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };
  /** Changes a stored record if it still exists; false when it was forgotten meanwhile. */
  const patch = (cap: string, change: Partial<HistoryRecord>) =>
    serial(async () => {
      const old = await get<HistoryRecord>(cap, db());
      if (!old) return false;
      await set(cap, { ...old, ...change }, db());
      return true;
    });
  const rollback = (before: HistoryRecord[]) => setState('records', reconcile(before));

  async function load() {
    try {
      const all = await entries<string, HistoryRecord>(db());
      const records = all.map(([, r]) => r).filter((r) => typeof r?.cap === 'string');
      setState({ records: sortHistory(records), loaded: true, error: null });
    } catch (err) {
      setState({
        loaded: true,
        error: `Could not read the history from this browser's storage: ${String(err)}`,
      });
    }
  }

  // A read-modify-write inside one IndexedDB transaction (idb-keyval's update), so a visit
  // remembered in another tab cannot undo a pin made at the same moment either.
  async function remember(seen: HistoryRecord) {
    let merged = seen;
    await serial(() =>
      update<HistoryRecord>(
        seen.cap,
        (old) => {
          merged = mergeRecord(old, seen);
          return merged;
        },
        db(),
      ),
    );
    // A pin still being written is ahead of IndexedDB: keep what the view already shows.
    const shown = state.records.find((r) => r.cap === seen.cap);
    replace(shown ? { ...merged, pinned: shown.pinned, pinId: shown.pinId } : merged);
    return merged;
  }

  /**
   * Pins a file: `writeCopy` puts its content in Cache Storage under a fresh random id
   * (pins.ts), then the id goes to the record.
   */
  async function pin(cap: string, writeCopy: (pinId: string, type?: string) => Promise<void>) {
    const before = snapshot();
    const rec = state.records.find((r) => r.cap === cap);
    if (!rec || rec.pinned) return;
    const pinId = newPinId();
    const next = { ...rec, pinned: true, pinId };
    replace(next);
    try {
      await writeCopy(pinId, rec.type);
      // Forgotten while the copy was being written: the copy goes too.
      if (!(await patch(cap, { pinned: true, pinId }))) await deletePinned(pinId).catch(() => {});
    } catch (err) {
      rollback(before);
      await deletePinned(pinId).catch(() => {});
      throw err;
    }
  }

  async function unpin(cap: string) {
    const before = snapshot();
    const rec = state.records.find((r) => r.cap === cap);
    if (!rec?.pinned) return;
    const next: HistoryRecord = { ...rec, pinned: false, pinId: undefined };
    replace(next);
    try {
      await patch(cap, { pinned: false, pinId: undefined });
    } catch (err) {
      rollback(before);
      throw err;
    }
    if (rec.pinId) await deletePinned(rec.pinId).catch(() => {});
  }

  /**
   * Forgets a file: gone from the list and from IndexedDB at once. Its pinned copy stays
   * until `finish()` (the undo window closes), so `undo()` brings the record back whole.
   */
  async function forget(
    cap: string,
  ): Promise<{ record: HistoryRecord; undo(): Promise<void>; finish(): Promise<void> } | undefined> {
    const before = snapshot();
    const rec = state.records.find((r) => r.cap === cap);
    if (!rec) return undefined;
    const record = { ...rec };
    setState('records', (list) => list.filter((r) => r.cap !== cap));
    try {
      await serial(() => del(cap, db()));
    } catch (err) {
      rollback(before);
      throw err;
    }
    let settled = false;
    return {
      record,
      async undo() {
        if (settled) return;
        settled = true;
        await serial(() => set(cap, record, db()));
        replace(record);
      },
      async finish() {
        if (settled) return;
        settled = true;
        if (record.pinId) await deletePinned(record.pinId).catch(() => {});
      },
    };
  }

  return {
    state,
    load,
    remember,
    pin,
    unpin,
    forget,
    find: (cap: string) => state.records.find((r) => r.cap === cap),
  };
}
export type HistorySlice = ReturnType<typeof createHistorySlice>;
