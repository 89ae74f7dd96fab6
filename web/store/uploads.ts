/**
 * Uploads in progress and done. Each job runs in a worker via the client facade; this
 * slice tracks progress, results and errors, records finished uploads in history, and keeps
 * every immutable upload in progress in IndexedDB (pending-uploads.ts) until it finishes, so
 * that one interrupted by a reload or a closed tab comes back as a card to resume: the same
 * file chosen again (or read again through the handle the browser gave for it) continues
 * where the servers left off, sending only what they do not hold.
 */
import { createStore, produce } from 'solid-js/store';
import { CairnError } from '../../core/errors.ts';
import { CancelledError, type UploadOutcome, type UploadProgress, uploadFile } from './client.ts';
import { formatBytes } from './format.ts';
import type { HistorySlice } from './history.ts';
import {
  deletePendingUpload,
  fileMatches,
  LOCK_PREFIX,
  listPendingUploads,
  newPendingId,
  type PendingUploadRecord,
  savePendingUpload,
  uploadsRunningElsewhere,
  whileRunning,
} from './pending-uploads.ts';
import { gridEndpoint, type SettingsSlice } from './settings.ts';

/** 'interrupted': remembered from an earlier visit, waiting for its file to resume. */
export type UploadStatus = 'working' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface UploadJob extends UploadProgress {
  id: number;
  name: string;
  size: number;
  type: string;
  /** An editable (mutable) file. */
  editable: boolean;
  status: UploadStatus;
  result?: UploadOutcome;
  error?: { code: string; message: string };
  /** A line about resuming: what was already stored, a retry, a file that was not the same. */
  note?: string;
  /** Running it again continues it (a failed or interrupted immutable upload). */
  resumable?: boolean;
  /** The browser kept a handle to the file: one click reads it again (with permission). */
  hasHandle?: boolean;
}

/** Uploads run concurrently up to this many; more wait their turn. */
const CONCURRENCY = 2;

type Handle = FileSystemFileHandle & {
  queryPermission?(d: { mode: 'read' }): Promise<PermissionState>;
  requestPermission?(d: { mode: 'read' }): Promise<PermissionState>;
};

export function createUploadsSlice(settings: SettingsSlice, history: HistorySlice) {
  const [state, setState] = createStore<{ jobs: UploadJob[] }>({ jobs: [] });
  const controllers = new Map<number, AbortController>();
  const files = new Map<number, File>();
  const editable = new Set<number>();
  /** Job -> the id of its record in IndexedDB (and of its Web Lock). */
  const pendingIds = new Map<number, string>();
  /** Job -> its record, once written (or restored). */
  const records = new Map<number, PendingUploadRecord>();
  /** Job -> a handle to its file, where the browser gave one. */
  const handles = new Map<number, Promise<Handle | null>>();
  const queue: number[] = [];
  let running = 0;
  let nextId = 1;

  const update = (id: number, fn: (job: UploadJob) => void) =>
    setState(
      'jobs',
      (j) => j.id === id,
      produce((j) => fn(j)),
    );

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
    try {
      await whileRunning(pid, () => runLocked(id, pid, file, ctl));
    } finally {
      running--;
      controllers.delete(id);
      pump();
    }
  }

  async function runLocked(id: number, pid: string, file: File, ctl: AbortController) {
    const s = settings.settings();
    const kept = records.get(id);
    // A resumed upload keeps the encoding it started with, whatever the settings say now.
    const enc = kept?.params ?? { k: s.k, happy: s.happy, n: s.n, convergence: s.convergence };
    const mutable = editable.has(id);
    try {
      const result = await uploadFile(
        file,
        { ...enc, grid: gridEndpoint(s, location.href), mutable },
        (p) =>
          update(id, (j) => {
            j.encoded = p.encoded;
            j.acked = p.acked;
          }),
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
                await savePendingUpload(rec).catch(() => {});
              },
              onRetry: (attempt, attempts, delayMs) =>
                update(id, (j) => {
                  j.note = `Servers were lost. Trying again in ${Math.round(delayMs / 1000)} s (try ${attempt} of ${attempts}); what they hold is not sent again.`;
                }),
            },
      );
      update(id, (j) => {
        j.status = 'done';
        j.result = result;
        j.encoded = j.size;
        j.acked = j.size;
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
        date: Date.now(),
        via: 'upload',
        pinned: false,
        type: file.type || undefined,
      });
    } catch (err) {
      const cancelled = err instanceof CancelledError || ctl.signal.aborted;
      if (cancelled) await forgetRecord(id);
      update(id, (j) => {
        j.status = cancelled ? 'cancelled' : 'failed';
        j.resumable = !cancelled && records.has(id);
        if (!cancelled)
          j.error =
            err instanceof CairnError
              ? { code: err.code, message: err.message }
              : {
                  code: 'INTERNAL',
                  message: `The upload failed: ${err instanceof Error ? err.message : String(err)}`,
                };
      });
    }
  }

  function pump() {
    while (running < CONCURRENCY && queue.length > 0) {
      const id = queue.shift()!;
      void run(id);
    }
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
      j.resumable = false;
    });
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

  /** Cards for the uploads an earlier visit left unfinished (not those another tab is running). */
  async function restore() {
    let recs: PendingUploadRecord[];
    let elsewhere: Set<string>;
    try {
      [recs, elsewhere] = await Promise.all([listPendingUploads(), uploadsRunningElsewhere()]);
    } catch {
      return;
    }
    for (const rec of recs) {
      if (elsewhere.has(LOCK_PREFIX + rec.id)) continue;
      if ([...pendingIds.values()].includes(rec.id)) continue;
      const id = nextId++;
      pendingIds.set(id, rec.id);
      records.set(id, rec);
      setState('jobs', (jobs) => [
        ...jobs,
        {
          id,
          name: rec.name,
          size: rec.size,
          type: rec.type,
          editable: false,
          status: 'interrupted',
          encoded: 0,
          acked: 0,
          resumable: true,
          hasHandle: rec.handle !== undefined,
        },
      ]);
      // Where the browser still lets this page read the file, it resumes by itself.
      if (rec.handle) void resumeFromHandle(id, false);
    }
  }

  return {
    state,
    restore,
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
            encoded: 0,
            acked: 0,
          },
          ...jobs,
        ]);
        start(id);
      }
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
      }
    },
    dismiss(id: number) {
      files.delete(id);
      editable.delete(id);
      handles.delete(id);
      void forgetRecord(id);
      pendingIds.delete(id);
      setState('jobs', (jobs) => jobs.filter((j) => j.id !== id));
    },
    /** The File of an upload from this session, for pinning without a download. */
    fileFor(cap: string): File | undefined {
      const job = state.jobs.find((j) => j.result?.readCap === cap);
      return job ? files.get(job.id) : undefined;
    },
  };
}
export type UploadsSlice = ReturnType<typeof createUploadsSlice>;
