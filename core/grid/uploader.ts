/**
 * Immutable upload to a grid: plan the file, derive its key, choose shareholders for
 * happiness, and stream the encoder's share writes to them with back-pressure. The order of
 * writes is the encoder's (header, then every segment's blocks, then hash trees, chain and
 * UEB); closing the shares is last, so a server never shows a partial share.
 *
 * Resumable: upload secrets are derived (lease.ts uploadSecretFor), so the same client
 * uploading the same file again presents the same secrets, each server answers with the
 * bytes it already holds of its buckets, and only the rest is sent (the file is still read
 * and encoded whole: the hash trees need every block). A failed upload leaves its buckets to
 * the servers, which keep them for a while; only a cancelled one gives them back. With
 * `retries`, an upload that loses too many servers part way tries again after a pause
 * (a restarted server, a dropped network), resuming what each server holds.
 */
import { type ChkCap, chkStorageIndex, type LitCap } from '../caps/immutable.ts';
import { CairnError } from '../errors.ts';
import { convergentKey } from '../immutable/convergence.ts';
import { type ChkStep, type EncodeTools, encodeChk } from '../immutable/encoder.ts';
import type { ChkParams } from '../immutable/params.ts';
import { planChk } from '../immutable/plan.ts';
import type { PlaintextSource } from '../immutable/source.ts';
import type { StorageServerApi, UploadSecrets } from '../protocol/storage-api.ts';
import type { ChkPlan } from '../immutable/plan.ts';
import { type AesKey, asAesKey, type ServerId, type ShareNum, type StorageIndex } from '../types.ts';
import { CancelledError, NoServersError, UploadUnhappinessError } from './errors.ts';
import { fileSecrets, serverSecrets } from './lease.ts';
import { BoundedQueue } from './queue.ts';
import { selectShareholders } from './select.ts';
import { ShareWriter } from './share-writer.ts';

export interface UploadProgress {
  /** Plaintext bytes encrypted and erasure-coded so far. */
  encoded: number;
  /** Plaintext bytes whose shares the servers have acknowledged (estimated from share bytes). */
  acked: number;
  /** The file's size. */
  total: number;
}

export interface UploadOptions {
  /**
   * Connected storage servers (any order; they are permuted per file), or a function that
   * gives the servers connected now (asked again before each retry).
   */
  servers: readonly StorageServerApi[] | (() => Promise<readonly StorageServerApi[]>);
  params: ChkParams;
  /** The client's 32-byte lease secret (lease.ts). */
  clientSecret: Uint8Array;
  /** Convergence secret: same file + secret + params → same cap. null: a random key. */
  convergence: Uint8Array | null;
  /** This key instead (a random-key upload being resumed: the key it started with). */
  key?: AesKey;
  /**
   * Told the key and storage index once they are known, before any server is asked (and
   * awaited): a client that may resume a random-key upload later keeps the key here.
   */
  onKey?(key: AesKey, si: StorageIndex): void | Promise<void>;
  /**
   * Tries again, this many times, when an upload that had started loses so many servers
   * that it cannot reach happiness (default 0). Each try resumes what the servers hold.
   */
  retries?: number;
  /** Pauses before the tries (the last repeats; default 2, 5, 10, 20 s). */
  retryDelaysMs?: readonly number[];
  /** Told before each pause: the try that follows (2, 3, …), of how many at most, and why. */
  onRetry?(r: { attempt: number; attempts: number; delayMs: number; reason: Error }): void;
  tools: EncodeTools;
  onProgress?(p: UploadProgress): void;
  /** Told about each server dropped during the upload (the upload goes on while happy). */
  onServerLost?(serverId: ServerId, reason: unknown): void;
  signal?: AbortSignal;
  /** Per-server in-flight write budget, bytes (default 1 MiB: enough to keep a LAN server busy).
   * Bytes in flight are held by the socket (and Node's `ws` masks a copy); a connection that
   * reads a write as it is made (readsWritesAtOnce) lets the writer reuse its batch at once. */
  maxInFlightBytesPerServer?: number;
  /** How far (bytes of share data) the encoder may run ahead of the writes (default 4 MiB). */
  encodeAheadBytes?: number;
  /** Contiguous writes to a share are joined up to this size before sending (default: a quarter of a share, 256 KiB to 1 MiB). */
  coalesceBytes?: number;
  /** The default batch's upper bound (default 1 MiB; a tab takes less, for its memory). */
  maxCoalesceBytes?: number;
  /** A server call taking longer than this counts as that server failing (default 60 s). */
  callTimeoutMs?: number;
  /** Timeout of the "what do you hold?" queries (default 15 s). */
  queryTimeoutMs?: number;
  /** Random bytes (random keys); crypto.getRandomValues by default. */
  randomBytes?(n: number): Uint8Array;
}

export interface UploadResult {
  cap: ChkCap | LitCap;
  /** Servers-of-happiness when the upload finished (0 for LIT caps). */
  happiness: number;
  /** Shares written per server (shares already on servers are not listed). */
  written: Map<ServerId, ShareNum[]>;
  /** Share bytes sent to servers, all tries together (0 for LIT caps). */
  sentBytes: number;
  /** Share bytes not sent because the servers held them already (a resumed upload). */
  skippedBytes: number;
  /** Tries it took (1 unless servers were lost and `retries` allowed more). */
  attempts: number;
}

const DEFAULT_RETRY_DELAYS_MS = [2_000, 5_000, 10_000, 20_000];

const defaultRandom = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('the upload was cancelled');
}

/**
 * `source` with reads that end in a CancelledError as soon as `signal` aborts: a cancel then
 * never waits on a slow read, nor on one that never settles (a browser's Blob read was seen
 * to stall on a busy machine, and the upload could then not be cancelled either).
 */
function cancellable(source: PlaintextSource, signal: AbortSignal | undefined): PlaintextSource {
  if (!signal) return source;
  return {
    size: source.size,
    read(offset, length, into) {
      checkSignal(signal);
      const read = source.read(offset, length, into);
      return new Promise<Uint8Array>((resolve, reject) => {
        const onAbort = () => reject(new CancelledError('the upload was cancelled'));
        signal.addEventListener('abort', onAbort, { once: true });
        read.then(
          (bytes) => {
            signal.removeEventListener('abort', onAbort);
            resolve(bytes);
          },
          (err) => {
            signal.removeEventListener('abort', onAbort);
            reject(err);
          },
        );
      });
    },
  };
}

export async function uploadImmutable(
  plaintext: PlaintextSource,
  opts: UploadOptions,
): Promise<UploadResult> {
  const source = cancellable(plaintext, opts.signal);
  const random = opts.randomBytes ?? defaultRandom;
  const plan = planChk(source.size, opts.params);
  const progress = (encoded: number, acked: number) =>
    opts.onProgress?.({ encoded, acked, total: source.size });

  if (plan.kind === 'lit') {
    // Tiny files live in the cap itself; no server is involved.
    for await (const step of encodeChk(source, opts.params, randomKeyFrom(random), opts.tools)) {
      if (step.kind === 'done') {
        progress(source.size, source.size);
        return {
          cap: step.cap,
          happiness: 0,
          written: new Map(),
          sentBytes: 0,
          skippedBytes: 0,
          attempts: 1,
        };
      }
    }
    throw new CairnError('INTERNAL', 'the encoder ended without a cap');
  }
  const listServers =
    typeof opts.servers === 'function'
      ? opts.servers
      : () => Promise.resolve(opts.servers as StorageServerApi[]);
  let servers = await listServers();
  if (servers.length === 0) {
    throw new NoServersError('no storage servers are connected; is the grid running?');
  }

  checkSignal(opts.signal);
  const key =
    opts.key ??
    (opts.convergence === null
      ? randomKeyFrom(random)
      : await convergentKey(source, opts.params, opts.convergence, opts.tools.backend));
  checkSignal(opts.signal);
  const si = chkStorageIndex(key);
  await opts.onKey?.(key, si);
  checkSignal(opts.signal);

  const tally: Tally = { sent: 0, skipped: 0, started: false };
  const retries = opts.retries ?? 0;
  const delays = opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await attemptUpload(source, opts, plan, key, si, servers, tally, progress);
      return { ...r, sentBytes: tally.sent, skippedBytes: tally.skipped, attempts: attempt };
    } catch (err) {
      checkSignal(opts.signal);
      // Only an upload that got going is tried again: one that finds too few servers at the
      // start fails at once, with the counts.
      const lostServers = err instanceof UploadUnhappinessError || err instanceof NoServersError;
      if (!lostServers || !tally.started || attempt > retries) throw err;
      const delayMs = delays[Math.min(attempt - 1, delays.length - 1)] ?? 0;
      opts.onRetry?.({ attempt: attempt + 1, attempts: retries + 1, delayMs, reason: err as Error });
      await pause(delayMs, opts.signal);
      servers = await listServers().catch(() => []);
    }
  }
}

interface Tally {
  sent: number;
  skipped: number;
  /** Some try got as far as writing. */
  started: boolean;
}

/** One try: choose shareholders, stream the encoder's writes, close. */
async function attemptUpload(
  source: PlaintextSource,
  opts: UploadOptions,
  plan: ChkPlan,
  key: AesKey,
  si: StorageIndex,
  servers: readonly StorageServerApi[],
  tally: Tally,
  progress: (encoded: number, acked: number) => void,
): Promise<Omit<UploadResult, 'sentBytes' | 'skippedBytes' | 'attempts'>> {
  if (servers.length === 0)
    throw new NoServersError('no storage servers are connected; is the grid running?');
  // Derived once per file and once per server: selection and the writer ask many times.
  const file = fileSecrets(opts.clientSecret, si);
  const perServer = new Map<ServerId, UploadSecrets>();
  const secretsFor = (serverId: ServerId): UploadSecrets => {
    let s = perServer.get(serverId);
    if (!s) {
      s = serverSecrets(file, serverId);
      perServer.set(serverId, s);
    }
    return s;
  };
  const uploadSecret = (serverId: ServerId) => secretsFor(serverId).upload;

  const shareholders = await selectShareholders({
    si,
    k: plan.k,
    happy: opts.params.happy,
    n: plan.n,
    allocatedSize: plan.shareSize,
    servers,
    secretsFor,
    queryTimeoutMs: opts.queryTimeoutMs,
  });
  tally.started = true;
  const writer = new ShareWriter({
    si,
    k: plan.k,
    happy: opts.params.happy,
    n: plan.n,
    shareholders,
    uploadSecretFor: uploadSecret,
    shareSize: plan.shareSize,
    maxInFlightBytes: opts.maxInFlightBytesPerServer,
    coalesceBytes: opts.coalesceBytes,
    maxCoalesceBytes: opts.maxCoalesceBytes,
    callTimeoutMs: opts.callTimeoutMs,
    onServerLost: opts.onServerLost,
  });

  let bucketCount = 0;
  for (const shares of shareholders.buckets.values()) bucketCount += shares.size;
  const totalShareBytes = bucketCount * plan.shareSize;
  const acked = () =>
    totalShareBytes === 0
      ? 0
      : Math.min(source.size, Math.floor((writer.ackedBytes / totalShareBytes) * source.size));

  // The encoder runs ahead of the writes by up to a few segments: while writes wait on the
  // servers, the next segments are being encrypted, coded and hashed.
  const queue = new BoundedQueue<ChkStep>(opts.encodeAheadBytes ?? 4 * 1024 * 1024);
  const producing = (async () => {
    for await (const step of encodeChk(source, opts.params, key, opts.tools)) {
      await queue.push(
        step,
        step.writes.reduce((n, w) => n + w.data.length, 0),
      );
    }
    queue.end();
  })().catch((err) => queue.fail(err));

  try {
    let cap: ChkCap | LitCap | undefined;
    for await (const step of queue) {
      checkSignal(opts.signal);
      for (const w of step.writes) await writer.write(w.shnum, w.offset, w.data);
      if (step.kind === 'segment') {
        // The writer has copied the blocks: the encoder may reuse their memory.
        step.release();
        progress(Math.min(source.size, (step.segment + 1) * plan.segmentSize), acked());
      } else if (step.kind === 'done') {
        cap = step.cap;
      }
    }
    if (!cap) throw new CairnError('INTERNAL', 'the encoder ended without a cap');
    const { happiness } = await writer.close();
    progress(source.size, source.size);
    // Servers dropped along the way are not listed: their shares may be incomplete.
    return { cap, happiness, written: writer.liveBuckets() };
  } catch (err) {
    queue.fail(err);
    await producing;
    // Cancelled: the buckets go back. Failed: the servers keep them, for a retry or a later
    // run of the same upload to continue.
    if (opts.signal?.aborted) await writer.abort();
    else await writer.settle();
    throw err;
  } finally {
    tally.sent += writer.sentBytes;
    tally.skipped += writer.skippedBytes;
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError('the upload was cancelled'));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError('the upload was cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function randomKeyFrom(random: (n: number) => Uint8Array): AesKey {
  return asAesKey(random(16));
}
