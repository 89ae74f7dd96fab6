/**
 * The one gateway from the page to the grid: every upload and download runs in a grid
 * worker (web/workers/grid-worker.ts), which opens its own WebSocket connections, so
 * file bytes never pass through the main thread and pages never touch a transport.
 */
import { proxy, transfer } from 'comlink';
import type { CheckResult } from '../../core/check/results.ts';
import type { DeepCheckSummary } from '../../core/client/index.ts';
import { CairnError } from '../../core/errors.ts';
import type {
  DirectoryChange,
  DirectoryListing,
  GridSurvey,
  GridWorkerApi,
  Outcome,
} from '../workers/grid-worker.ts';
import { saveFile } from './deliver.ts';
import { WorkerPool } from '../workers/pool.ts';
import { GridFailure } from './errors.ts';
import { putPinned } from './pins.ts';
import { currentGrid, type Settings } from './settings.ts';

export interface UploadParams {
  k: number;
  happy: number;
  n: number;
  convergence: boolean;
  /** WebSocket URL of the grid (relay). */
  grid: string;
  /** An editable (mutable) file. */
  mutable?: boolean;
}

/** Resuming an interrupted upload, and what the page hears about it. */
export interface UploadHooks {
  /** The key of an interrupted random-key upload (convergent keys come from the file). */
  key?: Uint8Array;
  /** Storage index and random key, before any share is sent (awaited). */
  onKey?(si: string, randomKey: Uint8Array | null): Promise<void>;
  onRetry?(attempt: number, attempts: number, delayMs: number): void;
}

export interface UploadProgress {
  /** Plaintext bytes encrypted and erasure-coded so far. */
  encoded: number;
  /** Plaintext bytes whose shares the servers have acknowledged. */
  acked: number;
  /** Bytes read by the first pass over the file (the convergent key's hash), before encoding. */
  hashed?: number;
}

export type { UploadResult as UploadOutcome } from '../workers/grid-worker.ts';
import type { UploadResult as UploadOutcome } from '../workers/grid-worker.ts';

export class CancelledError extends CairnError {
  constructor() {
    super('CANCELLED', 'Cancelled.');
  }
}

// Two workers: one upload can run beside a download or a second upload. Each worker keeps
// its own connections; the encode work inside one is the bottleneck, not the sockets.
let pool: WorkerPool<GridWorkerApi> | undefined;
const workers = () => {
  pool ??= new WorkerPool<GridWorkerApi>(
    () =>
      new Worker(new URL('../workers/grid-worker.ts', import.meta.url), {
        type: 'module',
        name: 'cairn-grid',
      }),
    { size: 2 },
  );
  return pool;
};

/** A worker's outcome as its value, or thrown as a GridFailure (code, message, counts). */
function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  if (o.code === 'CANCELLED') throw new CancelledError();
  throw new GridFailure(o.code, o.message, o.detail);
}

let nextUploadId = 1;

export async function uploadFile(
  file: File,
  params: UploadParams,
  onProgress: (p: UploadProgress) => void,
  signal: AbortSignal,
  hooks: UploadHooks = {},
): Promise<UploadOutcome> {
  if (signal.aborted) throw new CancelledError();
  const id = nextUploadId++;
  return workers().run(async (w) => {
    const abort = () => void w.cancel(id);
    signal.addEventListener('abort', abort);
    try {
      const outcome = await w.upload(
        { id, file, ...params, key: hooks.key },
        proxy((encoded: number, acked: number, hashed?: number) => onProgress({ encoded, acked, hashed })),
        proxy({
          key: async (si: string, randomKey: Uint8Array | null) => {
            await hooks.onKey?.(si, randomKey);
          },
          retry: (attempt: number, attempts: number, delayMs: number) =>
            hooks.onRetry?.(attempt, attempts, delayMs),
        }),
      );
      return unwrap(outcome);
    } finally {
      signal.removeEventListener('abort', abort);
    }
  });
}

/**
 * Has the grid worker send bytes [start, end] as `{ stream }` on `port` (transferred), so
 * they go from the worker to whoever holds the other end without passing through the page.
 * Resolves once the first segment is verified and the stream is sent.
 */
export async function sendToPort(
  cap: string,
  start: number,
  end: number,
  grid: string,
  port: MessagePort,
  onProgress: (bytes: number, state: 'reading' | 'done' | 'failed', message?: string, code?: string) => void,
): Promise<void> {
  await workers().run(async (w) =>
    unwrap(await w.readToPort(cap, start, end, grid, transfer(port, [port]), proxy(onProgress))),
  );
}

/**
 * How to write a pinned copy of a file: from the File itself when it was uploaded in this
 * session, else downloaded by the grid worker straight into Cache Storage.
 */
export function pinCopy(
  cap: string,
  size: number,
  grid: string,
  file?: File,
): (pinId: string, type?: string) => Promise<void> {
  if (file) return (pinId, type) => putPinned(pinId, file, type || file.type || undefined);
  return (pinId, type) =>
    workers().run(async (w) => {
      unwrap(await w.pin(cap, size, grid, pinId, type ?? 'application/octet-stream', document.baseURI));
    });
}

/** The size of the file a cap names (a mutable file's current version: asks the grid). */
export async function fileSize(cap: string, grid: string): Promise<number> {
  return workers().run(async (w) => unwrap(await w.size(cap, grid)));
}

/** The whole file if it is at most `max` bytes, else null. */
export async function readSmallFile(cap: string, grid: string, max: number): Promise<Uint8Array | null> {
  return workers().run(async (w) => unwrap(await w.readSmall(cap, grid, max)));
}

/** Publishes `data` as the new contents of the editable file `writeCap`. */
export async function replaceContents(
  writeCap: string,
  data: Blob,
  grid: string,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  await workers().run(async (w) => unwrap(await w.overwrite(writeCap, data, grid, proxy(onProgress))));
}

/** What a check of the file found (verify: every byte; repair: rebuild what is missing). */
export async function checkFile(
  cap: string,
  grid: string,
  opts: { verify?: boolean; repair?: boolean; addLease?: boolean },
): Promise<CheckResult> {
  return workers().run(async (w) => unwrap(await w.check(cap, grid, opts)));
}

/**
 * The grid as this browser sees it now: whether its relay answers, and the state of every
 * server it lists (or listed last, when the relay does not answer).
 */
export async function surveyGrid(grid: string): Promise<GridSurvey> {
  // Every few seconds, uploads or not: on the worker already running (and connected), so
  // that a survey during an upload does not start a second worker with its own sockets.
  return workers().run(async (w) => unwrap(await w.survey(grid)), { light: true });
}

// ---- directories --------------------------------------------------------------------

export async function createDirectory(settings: Settings): Promise<string> {
  const grid = currentGrid(settings);
  return workers().run(async (w) => unwrap(await w.createDirectory(grid)));
}

export async function listDirectory(cap: string, settings: Settings): Promise<DirectoryListing> {
  const grid = currentGrid(settings);
  return workers().run(async (w) => unwrap(await w.listDirectory(cap, grid)));
}

export async function changeDirectory(
  cap: string,
  settings: Settings,
  change: DirectoryChange,
): Promise<void> {
  const grid = currentGrid(settings);
  await workers().run(async (w) => unwrap(await w.changeDirectory(cap, grid, change)));
}

/** Uploads `files` (each with its path inside the folder) into directory `cap`. */
export async function uploadIntoDirectory(
  cap: string,
  files: { path: string[]; file: File }[],
  settings: Settings,
  onProgress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<number> {
  if (signal.aborted) throw new CancelledError();
  const s = settings;
  const grid = currentGrid(s);
  const id = nextUploadId++;
  return workers().run(async (w) => {
    const abort = () => void w.cancel(id);
    signal.addEventListener('abort', abort);
    try {
      return unwrap(
        await w.uploadIntoDirectory(
          { id, cap, grid, k: s.k, happy: s.happy, n: s.n, convergence: s.convergence, files },
          proxy(onProgress),
        ),
      );
    } finally {
      signal.removeEventListener('abort', abort);
    }
  });
}

/** Deep-checks everything under a folder (Keep alive renews leases; Repair rebuilds). */
export async function checkDirectoryTree(
  cap: string,
  settings: Settings,
  opts: { verify?: boolean; repair?: boolean; addLease?: boolean },
  onProgress: (summary: DeepCheckSummary) => void,
): Promise<{ summary: DeepCheckSummary; problems: { path: string[]; text: string }[] }> {
  const grid = currentGrid(settings);
  return workers().run(async (w) => unwrap(await w.deepCheckDirectory(cap, grid, opts, proxy(onProgress))));
}

/** Saves directory `cap` as `<name>.zip`, streamed through the service worker. */
export async function downloadZip(cap: string, name: string, settings: Settings): Promise<void> {
  const grid = currentGrid(settings);
  const size = await workers().run(async (w) => unwrap(await w.zipSizeOf(cap, grid)));
  await saveFile(
    {
      toPort: (port) =>
        workers().run(async (w) => {
          unwrap(await w.zipToPort(cap, grid, transfer(port, [port])));
        }),
    },
    { name: `${name}.zip`, size, type: 'application/zip' },
  );
}
