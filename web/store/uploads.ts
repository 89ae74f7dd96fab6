/**
 * Uploads in progress and done. Each job runs in a worker via the client facade; this
 * slice only tracks progress, results and errors, and records finished uploads in history.
 */
import { createStore, produce } from 'solid-js/store';
import { CairnError } from '../../core/errors.ts';
import { CancelledError, type UploadOutcome, type UploadProgress, uploadFile } from './client.ts';
import type { HistorySlice } from './history.ts';
import { gridEndpoint, type SettingsSlice } from './settings.ts';

export type UploadStatus = 'working' | 'done' | 'failed' | 'cancelled';

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
}

/** Uploads run concurrently up to this many; more wait their turn. */
const CONCURRENCY = 2;

export function createUploadsSlice(settings: SettingsSlice, history: HistorySlice) {
  const [state, setState] = createStore<{ jobs: UploadJob[] }>({ jobs: [] });
  const controllers = new Map<number, AbortController>();
  const files = new Map<number, File>();
  const editable = new Set<number>();
  const queue: number[] = [];
  let running = 0;
  let nextId = 1;

  const update = (id: number, fn: (job: UploadJob) => void) =>
    setState(
      'jobs',
      (j) => j.id === id,
      produce((j) => fn(j)),
    );

  async function run(id: number) {
    const file = files.get(id);
    const ctl = controllers.get(id);
    if (!file || !ctl) return;
    running++;
    try {
      const s = settings.settings();
      const params = {
        k: s.k,
        happy: s.happy,
        n: s.n,
        convergence: s.convergence,
        grid: gridEndpoint(s, location.href),
        mutable: editable.has(id),
      };
      const result = await uploadFile(
        file,
        params,
        (p) =>
          update(id, (j) => {
            j.encoded = p.encoded;
            j.acked = p.acked;
          }),
        ctl.signal,
      );
      update(id, (j) => {
        j.status = 'done';
        j.result = result;
        j.encoded = j.size;
        j.acked = j.size;
      });
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
      update(id, (j) => {
        j.status = cancelled ? 'cancelled' : 'failed';
        if (!cancelled)
          j.error =
            err instanceof CairnError
              ? { code: err.code, message: err.message }
              : {
                  code: 'INTERNAL',
                  message: `The upload failed: ${err instanceof Error ? err.message : String(err)}`,
                };
      });
    } finally {
      running--;
      controllers.delete(id);
      pump();
    }
  }

  function pump() {
    while (running < CONCURRENCY && queue.length > 0) {
      const id = queue.shift()!;
      void run(id);
    }
  }

  return {
    state,
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
            encoded: 0,
            acked: 0,
          },
          ...jobs,
        ]);
        queue.push(id);
      }
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
      }
    },
    dismiss(id: number) {
      files.delete(id);
      editable.delete(id);
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
