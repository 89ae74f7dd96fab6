/**
 * The grid client in a module worker (comlink): it opens the WebSocket connections to
 * the storage servers itself and runs the CHK encoder + uploader and the downloader here,
 * so file bytes never pass through the page: only progress and caps go back to it, while
 * verified plaintext streams go straight to the service worker or into Cache Storage.
 */
import backend from '#crypto-backend';
import { expose, transfer } from 'comlink';
import type { CheckResult } from '../../core/check/results.ts';
import {
  type DeepCheckSummary,
  type DirectoryNode,
  deepCheck,
  emptySummary,
  Grid,
  readAll,
  type ServerStatus,
  tally,
} from '../../core/client/index.ts';
import type { Metadata } from '../../core/dirnode/index.ts';
import { zipSize, zipStream } from './zip.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { parseGridAddress } from '../../core/client/grid-address.ts';
import { CairnError } from '../../core/errors.ts';
import { CancelledError, UploadUnhappinessError } from '../../core/grid/errors.ts';
import { BATCH_FILE_BYTES, batchesOf } from '../../core/grid/batch-uploader.ts';
import { NotEnoughSharesError } from '../../core/immutable/errors.ts';
import type { EncodeTools } from '../../core/immutable/encoder.ts';
import { DEFAULT_CHK_PARAMS } from '../../core/immutable/params.ts';
import { blobSource, bytesSource, type PlaintextSource } from '../../core/immutable/source.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { asAesKey } from '../../core/types.ts';
import type { FailureDetail } from '../store/errors.ts';
import { idbServerListCache } from '../store/server-list-cache.ts';
import { putPinned } from '../store/pins.ts';
import { gridSecrets } from '../store/secrets.ts';
import { sendStream, type StreamReply } from '../sw/port-stream.ts';
import { passedAlong } from '../sw/young-garbage.ts';
import { WorkerPool } from './pool.ts';
import { readAhead } from './read-ahead.ts';
import { type PooledRunner, pooledRunner } from './segment-runner.ts';
import type { SegmentWorkerApi } from './segment-worker.ts';

/**
 * Errors cross the worker boundary as data (comlink keeps only the message): code, message,
 * and counts the page words them with (web/store/errors.ts).
 */
export type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; code: string; message: string; detail?: FailureDetail };
type Failure = { ok: false; code: string; message: string; detail?: FailureDetail };

const fail = (err: unknown): Failure => {
  if (!(err instanceof CairnError))
    return { ok: false, code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
  const out: Failure = { ok: false, code: err.code, message: err.message };
  if (err instanceof UploadUnhappinessError) {
    const c = err.counts;
    out.detail = { serversFound: c.serversFound, serversWithShares: c.serversWithShares, happy: c.happy };
  } else if (err instanceof NotEnoughSharesError) {
    out.detail = { needed: err.needed, found: err.good, causes: err.problems.map((p) => p.code) };
  }
  return out;
};

/**
 * A failure on `grid`, with what the page needs to tell a wrong link from a grid that is down:
 * how many servers the grid lists and how many answer (connections are kept, so this is
 * quick), and the grid's host. Never more than a few seconds.
 */
async function failOnGrid(err: unknown, grid: string): Promise<Failure> {
  const out = fail(err);
  const detail: FailureDetail = { ...out.detail, gridHost: hostOf(grid) };
  if (out.code === 'NOT_ENOUGH_SHARES' || out.code === 'NO_SERVERS') {
    const g = gridFor(grid).connections;
    const counts = Promise.all([g.servers(), g.connected()]).then(([l, c]) => ({
      listed: l.length,
      reachable: c.length,
    }));
    const seen = await Promise.race([
      counts.catch(() => null),
      new Promise<null>((r) => setTimeout(() => r(null), 5_000)),
    ]);
    if (seen) Object.assign(detail, seen);
  }
  return { ...out, detail };
}

const hostOf = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
};

/** What the Grid page and the Upload page show: the relay, and each server's state. */
export interface GridSurvey {
  /** The relay answered just now. */
  relayReached: boolean;
  /** Why it did not (the core's message, no secrets). */
  relayProblem?: string;
  /** Every server it lists (or listed last, from this browser's cache, when it did not answer). */
  servers: ServerStatus[];
}

// Upload segments are encrypted, coded and hashed in segment workers, so this worker's
// thread is left for reading the File, the whole-file hashes and the sockets.
let runner: PooledRunner | undefined;
/**
 * Segments a segment worker codes before a fresh one takes over (8 MiB of 128 KiB
 * segments): its late garbage goes with it (WorkerPool's retireAfter, the runner counting each
 * message's jobs). That is ~30 KB a segment in its heaps, and the cipher's output, which stays
 * in the worker (copied into the blocks) and which Chromium frees only with a full collection,
 * rare in a worker this quiet: a worker's buffers reached 28-33 MiB in 256 segments, 10-17 in
 * 128, 7-9 in 64 (bench:web, 1 GiB upload, 2026-12-07 morning: a renderer peak 143-153 MiB
 * above rest at 64 against 150-165 at 128). With encodes two to a message (the evening's VM):
 * 122-129 MiB at 64 against 128-140 at 128, Chromium CPU / its bound the same within the
 * noise (5.8-6.4x both; bench/README, 2026-12-07 17:50).
 */
const SEGMENT_WORKER_TASKS = 64;
const segmentRunner = () => {
  const cores = navigator.hardwareConcurrency || 2;
  runner ??= pooledRunner(
    new WorkerPool<SegmentWorkerApi>(
      () =>
        new Worker(new URL('./segment-worker.ts', import.meta.url), {
          type: 'module',
          name: 'cairn-segment',
        }),
      { size: Math.min(4, Math.max(2, cores)), retireAfter: SEGMENT_WORKER_TASKS },
    ),
  );
  return runner;
};

/**
 * A File to upload, read through one stream in windows (a window's read runs while the last
 * is coded), into plaintext buffers the segment workers have handed back.
 */
const uploadSource = (file: Blob): PlaintextSource =>
  readAhead(blobSource(file), undefined, (n) => segmentRunner().readBuffer(n));

let tools: Promise<EncodeTools> | undefined;
const getTools = () => {
  tools ??= loadCodec().then((codec) => ({ backend, codec, runner: segmentRunner() }));
  return tools;
};

export type { ServerStatus } from '../../core/client/index.ts';

// One client per grid URL: each keeps its connections for later jobs.
const grids = new Map<string, Grid>();
const gridFor = (url: string) => {
  let g = grids.get(url);
  if (!g) {
    // The address carries the grid managers to trust after its fragment.
    const address = parseGridAddress(url);
    g = new Grid({
      url: address.url,
      gridManagers: address.gridManagers,
      cache: idbServerListCache(),
      tools: getTools,
      // Half the default: ten servers each have a batch filling here and one in Blink's
      // socket. bench:web 1 GiB upload, renderer peak above rest 150 / 150 MiB against
      // 162 / 163 at 1 MiB, Chromium CPU 79.6 / 80.4 s against 78.7 / 83.3.
      maxWriteBatchBytes: 512 * 1024,
      // Decoded on this thread: with segment workers, 64 MiB downloads measured no faster on
      // 2 cores (the sockets and the stream to the service worker bound them) and the tab's
      // peak grew by ~40 MiB (bench:web).
      decodeTools: async () => {
        const t = await getTools();
        return { backend: t.backend, codec: t.codec };
      },
      secrets: async () => {
        const s = await gridSecrets();
        return { lease: s.client, convergence: s.convergence };
      },
    });
    grids.set(url, g);
  }
  return g;
};

const uploads = new Map<number, AbortController>();

interface StreamWatch {
  bytes(n: number): void;
  end(n: number, err?: unknown): void;
}

/** A pull stream over the downloader: one segment in flight, so memory stays flat. */
async function openStream(
  cap: string,
  start: number,
  end: number,
  grid: string,
  watch?: StreamWatch,
): Promise<ReadableStream<Uint8Array>> {
  const ctl = new AbortController();
  const chunks = gridFor(grid)
    .open(cap)
    .read({
      offset: start,
      length: end - start + 1,
      signal: ctl.signal,
    });
  let pending: IteratorResult<Uint8Array> | null = await chunks.next();
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const step = pending ?? (await chunks.next());
          pending = null;
          if (step.done) {
            controller.close();
            watch?.end(sent);
            return;
          }
          sent += step.value.length;
          controller.enqueue(step.value);
          // The segment's blocks came in as fresh socket messages.
          passedAlong(step.value.length);
          watch?.bytes(sent);
        } catch (err) {
          watch?.end(sent, err);
          controller.error(err);
        }
      },
      async cancel() {
        ctl.abort();
        watch?.end(sent, new CancelledError('the download was stopped'));
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 1 },
  );
}

export interface UploadRequest {
  id: number;
  file: File;
  k: number;
  happy: number;
  n: number;
  convergence: boolean;
  grid: string;
  /** An editable (mutable, MDMF) file instead of an immutable one. */
  mutable?: boolean;
  /** Continues an interrupted random-key upload: the key it started with. */
  key?: Uint8Array;
}

/** What the page hears while an immutable upload runs (besides progress). */
export interface UploadEvents {
  /**
   * The storage index (base32), and the key if it is a random one, before any share is
   * sent; the upload waits for this to return (the page keeps them to resume).
   */
  key(si: string, randomKey: Uint8Array | null): Promise<void>;
  /** Servers were lost; the upload tries again after `delayMs`. */
  retry(attempt: number, attempts: number, delayMs: number): void;
}

export interface DirectoryRow {
  name: string;
  kind: 'literal' | 'immutable' | 'mutable' | 'directory' | 'unknown';
  cap: string;
  size: number | null;
  mutable: boolean;
  writable: boolean;
  /** Seconds since the epoch, from the link's metadata (mtime, else Tahoe's link time). */
  modified: number | null;
}

export interface DirectoryListing {
  cap: string;
  readCap: string | null;
  writeCap: string | null;
  mutable: boolean;
  entries: DirectoryRow[];
}

export type DirectoryChange =
  | { op: 'mkdir'; name: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'delete'; name: string };

function modifiedOf(m: Metadata): number | null {
  if (typeof m.mtime === 'number') return m.mtime;
  const t = m.tahoe as { linkmotime?: unknown } | undefined;
  return typeof t?.linkmotime === 'number' ? t.linkmotime : null;
}

/** Every file under a directory, with its path in the archive and its size. */
async function zipEntries(g: Grid, cap: string): Promise<{ path: string; size: number; cap: string }[]> {
  const entries: { path: string; size: number; cap: string }[] = [];
  const walk = async (dir: DirectoryNode, prefix: string, depth: number) => {
    if (depth > 64) throw new CairnError('TOO_DEEP', 'the folder nests more than 64 levels deep');
    for (const e of (await dir.list()).values()) {
      // A name cannot hold a path separator inside an archive.
      const p = `${prefix}${e.name.replace(/[\\/]/g, '_')}`;
      if (e.kind === 'directory') await walk(g.openDirectory(e.cap), `${p}/`, depth + 1);
      else if (e.kind !== 'unknown')
        entries.push({ path: p, cap: e.cap, size: e.size ?? (await g.open(e.cap).size()) });
    }
  };
  await walk(g.openDirectory(cap), '', 0);
  return entries;
}

export interface UploadResult {
  /** The cap to share: read-only. */
  readCap: string;
  /** Empty for LIT caps (tiny files live in the cap; there is nothing to verify). */
  verifyCap: string;
  /** The cap that changes an editable file; absent for immutable files. */
  writeCap?: string;
  /** Share bytes sent, and share bytes the servers held already (a resumed upload). */
  sentBytes?: number;
  skippedBytes?: number;
}

/** Mutable files are built whole before they are written: they stay this small in the tab. */
export const MAX_EDITABLE_BYTES = 256 * 1024 * 1024;

const api = {
  async upload(
    req: UploadRequest,
    onProgress: (encoded: number, acked: number, hashed?: number) => void,
    events?: UploadEvents,
  ): Promise<Outcome<UploadResult>> {
    const ctl = new AbortController();
    uploads.set(req.id, ctl);
    let last = 0;
    try {
      if (req.mutable) {
        if (req.file.size > MAX_EDITABLE_BYTES) {
          throw new CairnError(
            'TOO_LARGE',
            `Editable files can be at most ${MAX_EDITABLE_BYTES / 1024 / 1024} MiB in the browser; upload this one as a regular file.`,
          );
        }
        const data = new Uint8Array(await req.file.arrayBuffer());
        onProgress(data.length, 0);
        const node = await gridFor(req.grid).createMutable(data, {
          format: 'mdmf',
          k: req.k,
          n: req.n,
          signal: ctl.signal,
          onProgress(done, total) {
            const now = performance.now();
            if (now - last > 100 || done === total) {
              last = now;
              onProgress(data.length, total === 0 ? data.length : Math.floor((done / total) * data.length));
            }
          },
        });
        return {
          ok: true,
          value: { readCap: node.readCap ?? '', verifyCap: node.verifyCap ?? '', writeCap: node.cap },
        };
      }
      // The convergent key's hash reads the whole file before encoding starts: counted apart,
      // so the page can say "reading the file" instead of sitting at 0%.
      const plain = uploadSource(req.file);
      const source = !req.convergence
        ? plain
        : firstPassCounter(plain, (hashed) => {
            const now = performance.now();
            if (now - last > 100 || hashed === req.file.size) {
              last = now;
              onProgress(0, 0, hashed);
            }
          });
      const r = await gridFor(req.grid).upload(source, {
        params: { ...DEFAULT_CHK_PARAMS, k: req.k, happy: req.happy, n: req.n },
        convergent: req.convergence,
        key: !req.convergence && req.key ? asAesKey(req.key) : undefined,
        onKey: (key, si) => events?.key(base32Encode(si), req.convergence ? null : key.slice()),
        onRetry: (x) => events?.retry(x.attempt, x.attempts, x.delayMs),
        signal: ctl.signal,
        onProgress(p) {
          // A message per segment would flood the page; a few per second is plenty.
          const now = performance.now();
          if (now - last > 100 || p.acked === p.total) {
            last = now;
            onProgress(p.encoded, p.acked);
          }
        },
      });
      return {
        ok: true,
        value: {
          readCap: r.node.cap,
          verifyCap: r.node.verifyCap ?? '',
          sentBytes: r.sentBytes,
          skippedBytes: r.skippedBytes,
        },
      };
    } catch (err) {
      return failOnGrid(ctl.signal.aborted ? new CancelledError('the upload was cancelled') : err, req.grid);
    } finally {
      uploads.delete(req.id);
    }
  },

  cancel(id: number): void {
    uploads.get(id)?.abort();
  },

  /**
   * Verified plaintext of bytes [start, end] of the file, sent on `port` (port-stream.ts;
   * the other end is the service worker's), so downloaded bytes pass from this worker
   * straight to the service worker and never through the page. The first segment is
   * fetched and verified before this resolves, so "no shares" or "bad cap" come back as an
   * error here rather than as a broken download later. `onProgress` hears bytes so far, then 'done' or the error.
   */
  async readToPort(
    cap: string,
    start: number,
    end: number,
    grid: string,
    port: MessagePort,
    onProgress: (
      bytes: number,
      state: 'reading' | 'done' | 'failed',
      message?: string,
      code?: string,
    ) => void,
  ): Promise<Outcome<true>> {
    try {
      let last = 0;
      const stream = await openStream(cap, start, end, grid, {
        bytes(n) {
          const now = performance.now();
          if (now - last > 100) {
            last = now;
            onProgress(n, 'reading');
          }
        },
        end(n, err) {
          if (err) {
            const f = fail(err);
            onProgress(n, 'failed', f.message, f.code);
          } else onProgress(n, 'done');
        },
      });
      sendStream(stream, port, { chunksOwnBuffers: true });
      return { ok: true, value: true };
    } catch (err) {
      const outcome = await failOnGrid(err, grid);
      const reply: StreamReply = { ok: false, message: outcome.message };
      port.postMessage(reply);
      port.close();
      return outcome;
    }
  },

  /** Downloads the whole file into Cache Storage as pinned copy `pinId` (pins.ts). */
  async pin(
    cap: string,
    size: number,
    grid: string,
    pinId: string,
    type: string,
    base: string,
  ): Promise<Outcome<true>> {
    try {
      await putPinned(pinId, await openStream(cap, 0, size - 1, grid), type, base);
      return { ok: true, value: true };
    } catch (err) {
      return failOnGrid(err, grid);
    }
  },

  /** The file's size: from the cap when it says, else (mutable files) from the grid. */
  async size(cap: string, grid: string): Promise<Outcome<number>> {
    try {
      return { ok: true, value: await gridFor(grid).open(cap).size() };
    } catch (err) {
      return failOnGrid(err, grid);
    }
  },

  /** The whole file, when it is at most `max` bytes (the text editor); null when larger. */
  async readSmall(cap: string, grid: string, max: number): Promise<Outcome<Uint8Array | null>> {
    try {
      const node = gridFor(grid).open(cap);
      if ((await node.size()) > max) return { ok: true, value: null };
      const bytes = await readAll(node);
      return transfer({ ok: true, value: bytes }, [bytes.buffer]);
    } catch (err) {
      return failOnGrid(err, grid);
    }
  },

  /** Replaces the contents of the mutable file `writeCap` with `data` (a new version). */
  async overwrite(
    writeCap: string,
    data: Blob,
    grid: string,
    onProgress: (done: number, total: number) => void,
  ): Promise<Outcome<true>> {
    try {
      if (data.size > MAX_EDITABLE_BYTES) {
        throw new CairnError(
          'TOO_LARGE',
          `Editable files can be at most ${MAX_EDITABLE_BYTES / 1024 / 1024} MiB in the browser.`,
        );
      }
      const node = gridFor(grid).openMutable(writeCap);
      await node.overwrite(new Uint8Array(await data.arrayBuffer()), { onProgress });
      return { ok: true, value: true };
    } catch (err) {
      return failOnGrid(err, grid);
    }
  },

  /** Check (and optionally verify, repair, renew leases of) the file a cap names. */
  async check(
    cap: string,
    grid: string,
    opts: { verify?: boolean; repair?: boolean; addLease?: boolean },
  ): Promise<Outcome<CheckResult>> {
    try {
      return { ok: true, value: await gridFor(grid).open(cap).check(opts) };
    } catch (err) {
      return failOnGrid(err, grid);
    }
  },

  // ---- directories ------------------------------------------------------------------

  /** A new, empty mutable directory; its write cap. */
  async createDirectory(grid: string): Promise<Outcome<string>> {
    try {
      return { ok: true, value: (await gridFor(grid).createDirectory()).cap };
    } catch (err) {
      return fail(err);
    }
  },

  /** A directory's caps and children. */
  async listDirectory(cap: string, grid: string): Promise<Outcome<DirectoryListing>> {
    try {
      const dir = gridFor(grid).openDirectory(cap);
      const entries = [...(await dir.list()).values()].map((e) => ({
        name: e.name,
        kind: e.kind,
        cap: e.cap,
        size: e.size,
        mutable: e.mutable,
        writable: e.writeCap !== null,
        modified: modifiedOf(e.metadata),
      }));
      return {
        ok: true,
        value: { cap: dir.cap, readCap: dir.readCap, writeCap: dir.writeCap, mutable: dir.mutable, entries },
      };
    } catch (err) {
      return fail(err);
    }
  },

  /** mkdir, rename, delete (unlink) in a directory. */
  async changeDirectory(cap: string, grid: string, change: DirectoryChange): Promise<Outcome<true>> {
    try {
      const dir = gridFor(grid).openDirectory(cap);
      if (change.op === 'mkdir') await dir.mkdir(change.name);
      else if (change.op === 'rename') await dir.rename(change.from, change.to, { overwrite: false });
      else await dir.delete(change.name);
      return { ok: true, value: true };
    } catch (err) {
      return fail(err);
    }
  },

  /**
   * Uploads files (with their paths under the directory: folders are made as needed) and
   * links them, one directory change per folder. `onProgress` hears bytes stored so far.
   */
  async uploadIntoDirectory(
    req: {
      id: number;
      cap: string;
      grid: string;
      k: number;
      happy: number;
      n: number;
      convergence: boolean;
      files: { path: string[]; file: File }[];
    },
    onProgress: (done: number, total: number) => void,
  ): Promise<Outcome<number>> {
    const ctl = new AbortController();
    uploads.set(req.id, ctl);
    try {
      const g = gridFor(req.grid);
      const root = g.openDirectory(req.cap);
      const total = req.files.reduce((a, f) => a + f.file.size, 0);
      let done = 0;
      // Folder path -> the directory node and the links waiting for it.
      const folders = new Map<
        string,
        { dir: DirectoryNode; links: { name: string; cap: string; metadata: Metadata }[] }
      >();
      const folderOf = async (
        parts: string[],
      ): Promise<{ dir: DirectoryNode; links: { name: string; cap: string; metadata: Metadata }[] }> => {
        const key = parts.join('/');
        const known = folders.get(key);
        if (known) return known;
        let dir: DirectoryNode;
        if (parts.length === 0) dir = root;
        else {
          const parent = await folderOf(parts.slice(0, -1));
          const name = parts[parts.length - 1];
          const existing = await parent.dir.get(name).catch(() => null);
          if (existing && existing.kind === 'directory') dir = g.openDirectory(existing.cap);
          else {
            dir = await g.createDirectory();
            parent.links.push({ name, cap: dir.cap, metadata: {} });
          }
        }
        const entry = { dir, links: [] as { name: string; cap: string; metadata: Metadata }[] };
        folders.set(key, entry);
        return entry;
      };
      const params = { ...DEFAULT_CHK_PARAMS, k: req.k, happy: req.happy, n: req.n };
      const link = async (f: (typeof req.files)[number], cap: string) => {
        const folder = await folderOf(f.path.slice(0, -1));
        folder.links.push({
          name: f.path[f.path.length - 1],
          cap,
          metadata: { size: f.file.size, mtime: f.file.lastModified / 1000 },
        });
      };
      // Small files go in batches (each server gets one request per batch, not two per
      // file: a folder of many small files is many times faster); big ones one by one.
      const small = req.files.filter((f) => f.file.size <= BATCH_FILE_BYTES);
      for (const batch of batchesOf(small, (f) => f.file.size)) {
        if (ctl.signal.aborted) throw new CancelledError('the upload was cancelled');
        const sources = await Promise.all(
          batch.map(async (f) => bytesSource(new Uint8Array(await f.file.arrayBuffer()))),
        );
        const results = await g.uploadMany(sources, {
          params,
          convergent: req.convergence,
          signal: ctl.signal,
        });
        for (const [i, f] of batch.entries()) {
          await link(f, results[i].node.cap);
          done += f.file.size;
        }
        onProgress(done, total);
      }
      for (const f of req.files.filter((f) => f.file.size > BATCH_FILE_BYTES)) {
        if (ctl.signal.aborted) throw new CancelledError('the upload was cancelled');
        const base = done;
        const { node } = await g.upload(uploadSource(f.file), {
          params,
          convergent: req.convergence,
          signal: ctl.signal,
          onProgress: (p) => onProgress(base + p.acked, total),
        });
        await link(f, node.cap);
        done += f.file.size;
        onProgress(done, total);
      }
      // Deepest folders first, so each new folder is complete when its parent links it.
      const order = [...folders.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
      for (const key of order) {
        const f = folders.get(key)!;
        if (f.links.length) await f.dir.setMany(f.links);
      }
      return { ok: true, value: req.files.length };
    } catch (err) {
      return fail(ctl.signal.aborted ? new CancelledError('the upload was cancelled') : err);
    } finally {
      uploads.delete(req.id);
    }
  },

  /**
   * The directory as a .zip, streamed on `port` to the service worker (files one at a time,
   * stored, sizes known up front so the download shows its progress). Resolves with the size.
   */
  async zipToPort(cap: string, grid: string, port: MessagePort): Promise<Outcome<number>> {
    try {
      const g = gridFor(grid);
      const entries = await zipEntries(g, cap);
      const size = zipSize(entries);
      const byPath = new Map(entries.map((e) => [e.path, e.cap]));
      // Headers are fresh, file pieces come from FileNode.read: every chunk owns its buffer.
      sendStream(
        zipStream(entries, (p) => g.open(byPath.get(p)!).read()),
        port,
        { chunksOwnBuffers: true },
      );
      return { ok: true, value: size };
    } catch (err) {
      const outcome = fail(err);
      const reply: StreamReply = { ok: false, message: outcome.message };
      port.postMessage(reply);
      port.close();
      return outcome;
    }
  },

  /**
   * Checks everything under directory `cap` (deep-check), optionally verifying, repairing and
   * renewing this browser's leases ("Keep alive"); `onProgress` hears the running summary.
   */
  async deepCheckDirectory(
    cap: string,
    grid: string,
    opts: { verify?: boolean; repair?: boolean; addLease?: boolean },
    onProgress: (summary: DeepCheckSummary) => void,
  ): Promise<Outcome<{ summary: DeepCheckSummary; problems: { path: string[]; text: string }[] }>> {
    try {
      const g = gridFor(grid);
      let summary = emptySummary();
      const problems: { path: string[]; text: string }[] = [];
      for await (const item of deepCheck(g.openDirectory(cap), { ...opts, open: (c) => g.open(c) })) {
        summary = tally(summary, item);
        const final = item.result?.repair?.after ?? item.result;
        if (item.error || (final && !final.healthy)) {
          // Only the first hundred are sent back: a listing of every problem would not be read.
          if (problems.length < 100)
            problems.push({ path: item.path, text: item.error ?? final?.summary ?? '' });
        }
        onProgress(summary);
      }
      return { ok: true, value: { summary, problems } };
    } catch (err) {
      return fail(err);
    }
  },

  /** The size the directory's .zip will have (what the download is announced with). */
  async zipSizeOf(cap: string, grid: string): Promise<Outcome<number>> {
    try {
      return { ok: true, value: zipSize(await zipEntries(gridFor(grid), cap)) };
    } catch (err) {
      return fail(err);
    }
  },

  /**
   * The relay asked afresh, then every server probed (connected, or why not). Without an
   * answer from the relay the servers it listed last (cached) are probed, or none.
   */
  async survey(grid: string): Promise<Outcome<GridSurvey>> {
    let relayReached = true;
    let relayProblem: string | undefined;
    try {
      await fetchGridServers(grid, { timeoutMs: 5_000 });
    } catch (err) {
      relayReached = false;
      relayProblem = err instanceof Error ? err.message : String(err);
    }
    try {
      return { ok: true, value: { relayReached, relayProblem, servers: await gridFor(grid).probe() } };
    } catch (err) {
      if (!relayReached) return { ok: true, value: { relayReached, relayProblem, servers: [] } };
      return fail(err);
    }
  },
};

/**
 * `inner`, telling `onFirstPass` how far its first pass over the file has read. A second
 * pass (reads starting again at 0) is the encoder's, whose progress the uploader reports.
 */
function firstPassCounter(inner: PlaintextSource, onFirstPass: (bytes: number) => void): PlaintextSource {
  let first = true;
  let upTo = 0;
  return {
    size: inner.size,
    async read(offset, length) {
      if (first && offset < upTo) first = false;
      const bytes = await inner.read(offset, length);
      if (first && offset + length > upTo) {
        upTo = offset + length;
        onFirstPass(upTo);
      }
      return bytes;
    },
  };
}

export type GridWorkerApi = typeof api;

expose(api);
