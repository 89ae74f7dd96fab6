/**
 * Uploads in progress and done. Each job runs in a worker via the client facade; this
 * slice only tracks progress, results and errors, and records finished uploads in history.
 * Cards survive a reload of the tab in the form upload-cards.ts describes (running ones
 * come back as interrupted; nothing is resumed here).
 */
import { createSignal } from 'solid-js';
import { createStore, produce } from 'solid-js/store';
import { describeCap } from '../../core/client/cap-info.ts';
import { CancelledError, type UploadOutcome, type UploadProgress, uploadFile } from './client.ts';
import { explain } from './errors.ts';
import { rateOf } from './format.ts';
import type { HistoryRecord, HistorySlice } from './history.ts';
import { currentGrid, type SettingsSlice } from './settings.ts';
import { type CardStatus, loadCards, saveCards } from './upload-cards.ts';

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
  const queue: number[] = [];
  /** New uploads become editable (mutable) files: the Upload page's choice, for drops anywhere too. */
  const [newEditable, setNewEditable] = createSignal(false);
  let running = 0;
  let nextId = Math.max(0, ...restored.map((c) => c.id)) + 1;

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

  async function run(id: number) {
    const file = files.get(id);
    const ctl = controllers.get(id);
    if (!file || !ctl) return;
    running++;
    update(id, (j) => {
      j.phase = 'connecting';
    });
    try {
      const s = settings.settings();
      const grid = currentGrid(s);
      update(id, (j) => {
        j.grid = grid;
      });
      const params = {
        k: s.k,
        happy: s.happy,
        n: s.n,
        convergence: s.convergence,
        grid,
        mutable: editable.has(id),
      };
      const result = await uploadFile(file, params, (p) => progress(id, p), ctl.signal);
      const storedAt = Date.now();
      update(id, (j) => {
        j.status = 'done';
        j.result = result;
        j.encoded = j.size;
        j.acked = j.size;
        j.speed = null;
        j.storedAt = storedAt;
      });
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
      update(id, (j) => {
        j.status = cancelled ? 'cancelled' : 'failed';
        j.speed = null;
        if (!cancelled)
          j.error = { code: (err as { code?: string }).code ?? 'INTERNAL', message: explain('upload', err) };
      });
    } finally {
      running--;
      controllers.delete(id);
      samples.delete(id);
      persist();
      pump();
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

  return {
    state,
    editable: newEditable,
    setEditable: setNewEditable,
    add(list: Iterable<File>, opts: { editable?: boolean } = {}) {
      for (const file of list) {
        const id = nextId++;
        files.set(id, file);
        if (opts.editable) editable.add(id);
        controllers.set(id, new AbortController());
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
        queue.push(id);
      }
      persist();
      pump();
    },
    cancel(id: number) {
      const i = queue.indexOf(id);
      if (i >= 0) queue.splice(i, 1);
      const ctl = controllers.get(id);
      ctl?.abort();
      if (i >= 0) {
        controllers.delete(id);
        update(id, (j) => {
          j.status = 'cancelled';
        });
        persist();
      }
    },
    dismiss(id: number) {
      files.delete(id);
      editable.delete(id);
      setState('jobs', (jobs) => jobs.filter((j) => j.id !== id));
      persist();
    },
    /** Dismisses every card that is not running (stored, failed, cancelled, interrupted). */
    dismissFinished() {
      for (const j of state.jobs) {
        if (j.status === 'working') continue;
        files.delete(j.id);
        editable.delete(j.id);
      }
      setState('jobs', (jobs) => jobs.filter((j) => j.status === 'working'));
      persist();
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
