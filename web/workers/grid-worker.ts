/**
 * The grid client in a module worker (comlink): it opens the WebSocket connections to
 * the storage servers itself and runs the CHK encoder + uploader and the downloader here,
 * so file bytes never pass through the page: only progress and caps go back to it, while
 * verified plaintext streams go straight to the service worker or into Cache Storage.
 */
import backend from '#crypto-backend';
import { expose } from 'comlink';
import { formatCap, parseCap, verifierOf } from '../../core/caps/immutable.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { CairnError } from '../../core/errors.ts';
import { downloadImmutable } from '../../core/grid/downloader.ts';
import { CancelledError } from '../../core/grid/errors.ts';
import { uploadImmutable } from '../../core/grid/uploader.ts';
import type { EncodeTools } from '../../core/immutable/encoder.ts';
import { DEFAULT_CHK_PARAMS } from '../../core/immutable/params.ts';
import { blobSource } from '../../core/immutable/source.ts';
import { connectToServer } from '../../core/grid/connect.ts';
import type { StorageConnection } from '../../core/protocol/client.ts';
import { fetchGridServers, type GridServer } from '../../core/protocol/grid.ts';
import type { ServerId } from '../../core/types.ts';
import { putPinned } from '../store/pins.ts';
import { gridSecrets } from '../store/secrets.ts';
import type { StreamReply } from '../sw/messages.ts';
import { WorkerPool } from './pool.ts';
import { readAhead } from './read-ahead.ts';
import { type PooledRunner, pooledRunner } from './segment-runner.ts';
import type { SegmentWorkerApi } from './segment-worker.ts';

/** Errors cross the worker boundary as data (comlink keeps only the message): code + message. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

const fail = (err: unknown): { ok: false; code: string; message: string } =>
  err instanceof CairnError
    ? { ok: false, code: err.code, message: err.message }
    : { ok: false, code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };

// Upload segments are encrypted, coded and hashed in segment workers, so this worker's
// thread is left for reading the File, the whole-file hashes and the sockets.
let runner: PooledRunner | undefined;
const segmentRunner = () => {
  const cores = navigator.hardwareConcurrency || 2;
  runner ??= pooledRunner(
    new WorkerPool<SegmentWorkerApi>(
      () =>
        new Worker(new URL('./segment-worker.ts', import.meta.url), {
          type: 'module',
          name: 'cairn-segment',
        }),
      { size: Math.min(4, Math.max(2, cores)) },
    ),
  );
  return runner;
};

let tools: Promise<EncodeTools> | undefined;
const getTools = () => {
  tools ??= loadCodec().then((codec) => ({ backend, codec, runner: segmentRunner() }));
  return tools;
};

/** Connections to one grid, opened on demand and kept for later jobs. */
class GridSession {
  #list: { at: number; servers: GridServer[] } | null = null;
  readonly #conns = new Map<ServerId, Promise<StorageConnection | null>>();
  constructor(readonly relayUrl: string) {}

  async servers(): Promise<GridServer[]> {
    if (!this.#list || Date.now() - this.#list.at > 5_000) {
      this.#list = { at: Date.now(), servers: await fetchGridServers(this.relayUrl) };
    }
    return this.#list.servers;
  }

  #connect(server: GridServer): Promise<StorageConnection | null> {
    const cached = this.#conns.get(server.serverId);
    if (cached) return cached;
    // connectToServer tries the direct URL, then the relay route (a direct URL may be
    // unreachable or outside the page's CSP).
    const attempt = connectToServer(server, this.relayUrl, { connectTimeoutMs: 5_000 }).then(
      (conn) => {
        void conn.closed.then(() => this.#conns.delete(server.serverId));
        return conn;
      },
      () => {
        this.#conns.delete(server.serverId);
        return null;
      },
    );
    this.#conns.set(server.serverId, attempt);
    return attempt;
  }

  /** Every server that answers, connected. */
  async connected(): Promise<StorageConnection[]> {
    const all = await Promise.all((await this.servers()).map((s) => this.#connect(s)));
    return all.filter((c): c is StorageConnection => c !== null && !c.isClosed);
  }

  /** Connection state and a round-trip time per announced server. */
  async probe(): Promise<ServerStatus[]> {
    const servers = await this.servers();
    return Promise.all(
      servers.map(async (s): Promise<ServerStatus> => {
        const base = { id: s.serverId, nickname: s.nickname, availableSpace: s.availableSpace };
        const conn = await this.#connect(s);
        if (!conn || conn.isClosed) return { ...base, connected: false, rttMs: null };
        const t0 = performance.now();
        try {
          const v = await conn.getVersion();
          return {
            ...base,
            availableSpace: v.availableSpace,
            connected: true,
            rttMs: performance.now() - t0,
          };
        } catch {
          return { ...base, connected: false, rttMs: null };
        }
      }),
    );
  }
}

export interface ServerStatus {
  id: string;
  nickname: string;
  connected: boolean;
  availableSpace: number | null;
  rttMs: number | null;
}

const sessions = new Map<string, GridSession>();
const session = (relayUrl: string) => {
  let s = sessions.get(relayUrl);
  if (!s) {
    s = new GridSession(relayUrl);
    sessions.set(relayUrl, s);
  }
  return s;
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
  const parsed = parseCap(cap);
  const ctl = new AbortController();
  const needsGrid = parsed.kind === 'chk';
  const [t, servers] = await Promise.all([getTools(), needsGrid ? session(grid).connected() : []]);
  const chunks = downloadImmutable(parsed, {
    servers,
    // Decoded on this thread: with segment workers, 64 MiB downloads measured no faster on
    // 2 cores (the sockets and the stream to the service worker bound them) and the tab's
    // peak grew by ~40 MiB (bench:web).
    tools: { backend: t.backend, codec: t.codec },
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
}

const api = {
  async upload(
    req: UploadRequest,
    onProgress: (encoded: number, acked: number) => void,
  ): Promise<Outcome<{ readCap: string; verifyCap: string }>> {
    const ctl = new AbortController();
    uploads.set(req.id, ctl);
    let last = 0;
    try {
      const [t, secrets, servers] = await Promise.all([
        getTools(),
        gridSecrets(),
        session(req.grid).connected(),
      ]);
      const read = (n: number) => segmentRunner().readBuffer(n);
      const result = await uploadImmutable(readAhead(blobSource(req.file), undefined, read), {
        servers,
        params: { ...DEFAULT_CHK_PARAMS, k: req.k, happy: req.happy, n: req.n },
        clientSecret: secrets.client,
        convergence: req.convergence ? secrets.convergence : null,
        tools: t,
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
      const cap = result.cap;
      return {
        ok: true,
        value: { readCap: formatCap(cap), verifyCap: cap.kind === 'chk' ? formatCap(verifierOf(cap)) : '' },
      };
    } catch (err) {
      return fail(ctl.signal.aborted ? new CancelledError('the upload was cancelled') : err);
    } finally {
      uploads.delete(req.id);
    }
  },

  cancel(id: number): void {
    uploads.get(id)?.abort();
  },

  /**
   * Verified plaintext of bytes [start, end] of the file, sent as a StreamReply on `port`
   * (the other end is the service worker's), so downloaded bytes pass from this worker
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
    onProgress: (bytes: number, state: 'reading' | 'done' | 'failed', message?: string) => void,
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
          if (err)
            onProgress(
              n,
              'failed',
              err instanceof CairnError || err instanceof Error ? err.message : String(err),
            );
          else onProgress(n, 'done');
        },
      });
      const reply: StreamReply = { ok: true, stream };
      port.postMessage(reply, [stream as unknown as Transferable]);
      port.close();
      return { ok: true, value: true };
    } catch (err) {
      const outcome = fail(err);
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
      return fail(err);
    }
  },

  async probe(grid: string): Promise<Outcome<ServerStatus[]>> {
    try {
      return { ok: true, value: await session(grid).probe() };
    } catch (err) {
      return fail(err);
    }
  },
};

export type GridWorkerApi = typeof api;

expose(api);
