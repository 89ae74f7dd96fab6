/**
 * Uploads in progress and done. Each job runs in a worker via the client facade; this
 * slice tracks progress (by phase, with speed and time left), results and errors, records
 * finished uploads in history, and keeps every immutable upload in progress in IndexedDB
 * (pending-uploads.ts) until it finishes, so that one interrupted by a reload or a closed tab
 * comes back as a card to resume: the same file chosen again (or read again through the
 * handle the browser gave for it) continues where the servers left off, sending only what
 * they do not hold. The cards themselves survive a reload of the tab in the form
 * upload-cards.ts describes (no caps: a stored card finds its link in History).
 */
import { createSignal } from 'solid-js';
import { createStore, produce } from 'solid-js/store';
import { describeCap } from '../../core/client/cap-info.ts';
import { CancelledError, type UploadOutcome, type UploadProgress, uploadFile } from './client.ts';
import { explain } from './errors.ts';
import { formatBytes, rateOf } from './format.ts';
import type { HistoryRecord, HistorySlice } from './history.ts';
import {
  announcePendingUpload,
  deletePendingUpload,
  fileMatches,
  LOCK_PREFIX,
  listPendingUploads,
  newPendingId,
  onPendingUploadElsewhere,
  type PendingUploadRecord,
  readPendingUpload,
  savePendingUpload,
  uploadsRunningElsewhere,
  whenNotRunning,
  whileRunning,
} from './pending-uploads.ts';
import { currentGrid, type SettingsSlice } from './settings.ts';
import { type CardStatus, loadCards, saveCards } from './upload-cards.ts';

/** 'interrupted': remembered from an earlier visit, waiting for its file to resume. */
export type UploadStatus = CardStatus;

/**
 * Where a running upload is: waiting its turn, reaching the servers, reading the whole
 * file once (the convergent key is a hash of it), encrypting + encoding + storing, and
 * finishing (hash trees and closing, after the last byte is stored).
 */
export type UploadPhase = 'waiting' | 'connecting' | 'reading' | 'storing' | 'finishing';

export interface UploadJob extends UploadProgress {
  id: number;
  name: string;
  size: number;
  type: string;
  /** An editable (mutable) file. */
  editable: boolean;
  status: UploadStatus;
  phase: UploadPhase;
  /** Speed of the current phase (bytes/s) and the time it has left (s); null until measured. */
  speed: { bytesPerSecond: number; secondsLeft: number } | null;
  result?: UploadOutcome;
  error?: { code: string; message: string };
  /** The date of its History record once stored (how a card finds its link after a reload). */
  storedAt?: number;
  /** Brought back from before a reload of the tab. */
  restored?: boolean;
  /** The grid it went to (relay WebSocket URL). */
  grid?: string;
  /** A line about resuming: what was already stored, a retry, a file that was not the same. */
  note?: string;
  /** Running it again continues it (a failed or interrupted immutable upload). */
  resumable?: boolean;
  /** The browser kept a handle to the file: one click reads it again (with permission). */
  hasHandle?: boolean;
}

/** Uploads run concurrently up to this many; more wait their turn. */
const CONCURRENCY = 2;

/** Pure: the phase a running upload's progress shows. */
export function phaseOf(p: UploadProgress & { size: number; started: boolean }): UploadPhase {
  if (!p.started) return 'waiting';
  if (p.size > 0 && p.acked >= p.size) return 'finishing';
  if (p.encoded > 0 || p.acked > 0) return 'storing';
  if ((p.hashed ?? 0) > 0) return 'reading';
  return 'connecting';
}

type Handle = FileSystemFileHandle & {
  queryPermission?(d: { mode: 'read' }): Promise<PermissionState>;
  requestPermission?(d: { mode: 'read' }): Promise<PermissionState>;
};

export function createUploadsSlice(settings: SettingsSlice, history: HistorySlice) {
  const restored = loadCards();
  const [state, setState] = createStore<{ jobs: UploadJob[] }>({
    jobs: restored.map((c) => ({
      ...c,
      error: c.error ? { code: 'RESTORED', message: c.error } : undefined,
      phase: 'waiting',
      speed: null,
      encoded: 0,
      acked: 0,
      restored: true,
    })),
  });
  const controllers = new Map<number, AbortController>();
  const files = new Map<number, File>();
  const editable = new Set<number>();
  /** Progress samples of the running phase, per job, for speed and time left. */
  const samples = new Map<number, { phase: UploadPhase; points: { t: number; bytes: number }[] }>();
  /** Job -> the id of its record in IndexedDB (and of its Web Lock). */
  const pendingIds = new Map<number, string>();
  /** Job -> its record, once written (or restored). */
  const records = new Map<number, PendingUploadRecord>();
  /** Job -> a handle to its file, where the browser gave one. */
  const handles = new Map<number, Promise<Handle | null>>();
  const queue: number[] = [];
  /** New uploads become editable (mutable) files: the Upload page's choice, for drops anywhere too. */
  const [newEditable, setNewEditable] = createSignal(false);
  let running = 0;
  let nextId = Math.max(0, ...restored.map((c) => c.id)) + 1;
  for (const c of restored) if (c.pending) pendingIds.set(c.id, c.pending);

  const persist = () =>
    saveCards(
      state.jobs.map((j) => ({
        id: j.id,
        name: j.name,
        size: j.size,
        type: j.type,
        editable: j.editable,
        status: j.status,
        error: j.error?.message,
        storedAt: j.storedAt,
        pending: j.status === 'done' || j.status === 'cancelled' ? undefined : pendingIds.get(j.id),
      })),
    );

  const update = (id: number, fn: (job: UploadJob) => void) =>
    setState(
      'jobs',
      (j) => j.id === id,
      produce((j) => fn(j)),
    );

  function progress(id: number, p: UploadProgress) {
    update(id, (j) => {
      if (p.hashed !== undefined) j.hashed = p.hashed;
      if (p.encoded > 0 || p.acked > 0 || p.hashed === undefined) {
        j.encoded = p.encoded;
        j.acked = p.acked;
      }
      j.phase = phaseOf({ ...j, started: true });
      // Speed of what the phase moves: bytes read while reading, bytes stored while storing.
      const bytes = j.phase === 'reading' ? (j.hashed ?? 0) : j.acked;
      let s = samples.get(id);
      if (!s || s.phase !== j.phase) {
        s = { phase: j.phase, points: [] };
        samples.set(id, s);
      }
      s.points.push({ t: performance.now(), bytes });
      if (s.points.length > 200) s.points.splice(0, s.points.length - 100);
      j.speed = j.phase === 'reading' || j.phase === 'storing' ? rateOf(s.points, j.size) : null;
    });
  }

  /** Forgets the job's record (the upload finished, was cancelled, or is dismissed). */
  async function forgetRecord(id: number) {
    const pid = pendingIds.get(id);
    records.delete(id);
    if (pid) await deletePendingUpload(pid).catch(() => {});
  }

  async function run(id: number) {
    const file = files.get(id);
    const ctl = controllers.get(id);
    const pid = pendingIds.get(id);
    if (!file || !ctl || !pid) return;
    running++;
    update(id, (j) => {
      j.phase = 'connecting';
    });
    try {
      await whileRunning(pid, () => runLocked(id, pid, file, ctl));
    } finally {
      running--;
      controllers.delete(id);
      samples.delete(id);
      persist();
      pump();
    }
  }

  async function runLocked(id: number, pid: string, file: File, ctl: AbortController) {
    const s = settings.settings();
    const kept = records.get(id);
    // A resumed upload keeps the encoding it started with, whatever the settings say now.
    const enc = kept?.params ?? { k: s.k, happy: s.happy, n: s.n, convergence: s.convergence };
    const mutable = editable.has(id);
    const grid = currentGrid(s);
    update(id, (j) => {
      j.grid = grid;
    });
    try {
      const result = await uploadFile(
        file,
        { ...enc, grid, mutable },
        (p) => progress(id, p),
        ctl.signal,
        mutable
          ? {}
          : {
              key: kept?.key,
              onKey: async (si, randomKey) => {
                const before = records.get(id);
                if (before && before.si !== si) {
                  update(id, (j) => {
                    j.note =
                      "This file's contents are not those of the interrupted upload, so it is uploaded as a new file.";
                  });
                }
                const handle = (await handles.get(id)) ?? undefined;
                const rec: PendingUploadRecord = {
                  id: pid,
                  name: file.name,
                  size: file.size,
                  lastModified: file.lastModified,
                  type: file.type,
                  params: enc,
                  si,
                  ...(randomKey ? { key: randomKey } : {}),
                  ...(handle ? { handle } : {}),
                  started: before?.started ?? Date.now(),
                };
                records.set(id, rec);
                // Without IndexedDB the upload still runs; it just cannot be resumed after a reload.
                await savePendingUpload(rec).then(announcePendingUpload, () => {});
              },
              onRetry: (attempt, attempts, delayMs) =>
                update(id, (j) => {
                  j.note = `Servers were lost. Trying again in ${Math.round(delayMs / 1000)} s (try ${attempt} of ${attempts}); what they hold is not sent again.`;
                }),
            },
      );
      const storedAt = Date.now();
      update(id, (j) => {
        j.status = 'done';
        j.result = result;
        j.encoded = j.size;
        j.acked = j.size;
        j.speed = null;
        j.storedAt = storedAt;
        j.resumable = false;
        if (result.skippedBytes)
          j.note = `Resumed: ${formatBytes(result.skippedBytes)} of encoded shares were on the servers already and were not sent again.`;
        else if (j.note?.startsWith('Servers were lost')) j.note = undefined;
      });
      await forgetRecord(id);
      await history.remember({
        // An editable file is remembered by its write cap: this browser may change it later.
        cap: result.writeCap ?? result.readCap,
        name: file.name,
        size: file.size,
        date: storedAt,
        via: 'upload',
        pinned: false,
        type: file.type || undefined,
        grid,
      });
    } catch (err) {
      const cancelled = err instanceof CancelledError || ctl.signal.aborted;
      if (cancelled) await forgetRecord(id);
      update(id, (j) => {
        j.status = cancelled ? 'cancelled' : 'failed';
        j.speed = null;
        j.resumable = !cancelled && records.has(id);
        if (!cancelled)
          j.error = { code: (err as { code?: string }).code ?? 'INTERNAL', message: explain('upload', err) };
      });
    }
  }

  function pump() {
    while (running < CONCURRENCY && queue.length > 0) {
      const id = queue.shift()!;
      void run(id);
    }
  }

  /** After a reload, a finished card's History record (the only place its cap was kept). */
  function recordFor(job: UploadJob): HistoryRecord | undefined {
    if (!job.restored || job.status !== 'done') return undefined;
    const same = (r: HistoryRecord) => r.via === 'upload' && r.name === job.name && r.size === job.size;
    return (
      history.state.records.find((r) => same(r) && r.date === job.storedAt) ??
      history.state.records.find(same)
    );
  }

  /** A finished card's caps: its own result, or (after a reload) from its History record. */
  function resultFor(job: UploadJob): UploadOutcome | undefined {
    if (job.result) return job.result;
    const rec = recordFor(job);
    if (!rec) return undefined;
    try {
      const c = describeCap(rec.cap);
      return {
        readCap: c.readCap ?? rec.cap,
        verifyCap: c.verifyCap ?? '',
        writeCap: c.writeCap ?? undefined,
      };
    } catch {
      return undefined;
    }
  }

  function dismiss(id: number) {
    files.delete(id);
    editable.delete(id);
    handles.delete(id);
    void forgetRecord(id);
    pendingIds.delete(id);
    setState('jobs', (jobs) => jobs.filter((j) => j.id !== id));
    persist();
  }

  function start(id: number) {
    controllers.set(id, new AbortController());
    queue.push(id);
    pump();
  }

  /** Continues job `id` (interrupted or failed) with `file`, which must be the same file. */
  function resumeWith(id: number, file: File, handle?: Handle) {
    const rec = records.get(id);
    if (handle) handles.set(id, Promise.resolve(handle));
    else handles.delete(id);
    let note: string | undefined;
    if (rec && !fileMatches(rec, file)) {
      // Not the same file: upload it as a new one; the interrupted upload is given up (the
      // servers delete what they hold of it within a day).
      void deletePendingUpload(rec.id).catch(() => {});
      records.delete(id);
      pendingIds.set(id, newPendingId());
      note = `This is not the file whose upload was interrupted (${rec.name}, ${formatBytes(rec.size)}, modified ${new Date(rec.lastModified).toLocaleString()}), so it is uploaded as a new file.`;
    }
    files.set(id, file);
    update(id, (j) => {
      j.name = file.name;
      j.size = file.size;
      j.type = file.type;
      j.status = 'working';
      j.error = undefined;
      j.note = note;
      j.encoded = 0;
      j.acked = 0;
      j.hashed = undefined;
      j.phase = 'waiting';
      j.speed = null;
      j.resumable = false;
      j.restored = false;
    });
    persist();
    start(id);
  }

  /** Reads the file of job `id` again through its kept handle; asks for permission if needed (needs a click). */
  async function resumeFromHandle(id: number, ask: boolean): Promise<boolean> {
    const handle = records.get(id)?.handle as Handle | undefined;
    if (!handle) return false;
    try {
      let perm = (await handle.queryPermission?.({ mode: 'read' })) ?? 'granted';
      if (perm !== 'granted' && ask) perm = (await handle.requestPermission?.({ mode: 'read' })) ?? 'denied';
      if (perm !== 'granted') {
        if (ask)
          update(id, (j) => {
            j.note = 'This browser was not allowed to read the file again: choose it instead.';
          });
        return false;
      }
      resumeWith(id, await handle.getFile(), handle);
      return true;
    } catch {
      update(id, (j) => {
        j.hasHandle = false;
        j.note = 'The file is no longer where it was: choose it instead.';
      });
      return false;
    }
  }

  /**
   * Cards for the uploads an earlier visit left unfinished. One another tab is running gets
   * its card when that tab lets go of it (a tab just closed can hold its lock a moment
   * longer), if its record is still there: finished uploads delete theirs first.
   */
  async function restore(onlyNew = false) {
    let recs: PendingUploadRecord[];
    let elsewhere: Set<string>;
    try {
      [recs, elsewhere] = await Promise.all([listPendingUploads(), uploadsRunningElsewhere()]);
    } catch {
      return;
    }
    const known = new Set(pendingIds.values());
    for (const rec of recs) {
      if (onlyNew && known.has(rec.id)) continue;
      if (elsewhere.has(LOCK_PREFIX + rec.id)) {
        void whenNotRunning(rec.id)
          .then(() => readPendingUpload(rec.id))
          .then((again) => {
            if (again) cardForRecord(again);
            persist();
          })
          .catch(() => {});
      } else cardForRecord(rec);
    }
    persist();
  }
  // An upload another open tab starts: its card comes here too if that tab goes away.
  onPendingUploadElsewhere(() => void restore(true));

  /** Shows `rec` as an interrupted upload (unless this tab has it running or has its card). */
  function cardForRecord(rec: PendingUploadRecord) {
    // A card brought back from before a reload of this tab becomes this upload's card.
    const card = [...pendingIds].find(([, pid]) => pid === rec.id)?.[0];
    if (card !== undefined && (controllers.has(card) || files.has(card))) return;
    const id = card ?? nextId++;
    pendingIds.set(id, rec.id);
    records.set(id, rec);
    if (card !== undefined) {
      update(id, (j) => {
        j.status = 'interrupted';
        j.error = undefined;
        j.resumable = true;
        j.hasHandle = rec.handle !== undefined;
      });
    } else {
      setState('jobs', (jobs) => [
        ...jobs,
        {
          id,
          name: rec.name,
          size: rec.size,
          type: rec.type,
          editable: false,
          status: 'interrupted',
          phase: 'waiting',
          speed: null,
          encoded: 0,
          acked: 0,
          resumable: true,
          hasHandle: rec.handle !== undefined,
        },
      ]);
    }
    // Where the browser still lets this page read the file, it resumes by itself.
    if (rec.handle) void resumeFromHandle(id, false);
  }

  return {
    state,
    restore,
    editable: newEditable,
    setEditable: setNewEditable,
    /** Starts uploads; `handles` (same order) are the browser's handles to the files, where it gave them. */
    add(
      list: Iterable<File>,
      opts: { editable?: boolean; handles?: Array<Promise<Handle | null> | null> } = {},
    ) {
      let i = 0;
      for (const file of list) {
        const id = nextId++;
        const handle = opts.handles?.[i++];
        files.set(id, file);
        pendingIds.set(id, newPendingId());
        if (opts.editable) editable.add(id);
        else if (handle)
          handles.set(
            id,
            handle.catch(() => null),
          );
        setState('jobs', (jobs) => [
          {
            id,
            name: file.name,
            size: file.size,
            type: file.type,
            editable: opts.editable === true,
            status: 'working',
            phase: 'waiting',
            speed: null,
            encoded: 0,
            acked: 0,
          },
          ...jobs,
        ]);
        start(id);
      }
      persist();
    },
    resumeWith,
    resumeFromHandle: (id: number) => resumeFromHandle(id, true),
    /** Runs a failed upload again with the same file: it continues what the servers hold. */
    retry(id: number) {
      const file = files.get(id);
      if (!file) return;
      resumeWith(id, file);
    },
    cancel(id: number) {
      const i = queue.indexOf(id);
      if (i >= 0) queue.splice(i, 1);
      const ctl = controllers.get(id);
      ctl?.abort();
      if (i >= 0) {
        controllers.delete(id);
        void forgetRecord(id);
        update(id, (j) => {
          j.status = 'cancelled';
        });
        persist();
      }
    },
    dismiss,
    /**
     * Dismisses every finished card (stored, failed, cancelled); running ones and interrupted
     * ones still waiting for their file to resume stay.
     */
    dismissFinished() {
      for (const j of [...state.jobs])
        if (j.status !== 'working' && j.status !== 'interrupted') dismiss(j.id);
    },
    /** Uploads running or waiting their turn (leaving the page would end them). */
    active: () => state.jobs.filter((j) => j.status === 'working').length,
    resultFor,
    /** The grid a card's file went to, when known. */
    gridOf: (job: UploadJob): string | undefined => job.grid ?? recordFor(job)?.grid,
    /** The File of an upload from this session, for pinning without a download. */
    fileFor(cap: string): File | undefined {
      const job = state.jobs.find((j) => j.result?.readCap === cap || j.result?.writeCap === cap);
      return job ? files.get(job.id) : undefined;
    },
  };
}
export type UploadsSlice = ReturnType<typeof createUploadsSlice>;
