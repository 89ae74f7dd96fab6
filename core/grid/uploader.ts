/**
 * Immutable upload to a grid: plan the file, derive its key, choose shareholders for
 * happiness, and stream the encoder's share writes to them with back-pressure. The order of
 * writes is the encoder's (header, then every segment's blocks, then hash trees, chain and
 * UEB); closing the shares is last, so a server never shows a partial share.
 */
import { type ChkCap, chkStorageIndex, type LitCap } from '../caps/immutable.ts';
import { CairnError } from '../errors.ts';
import { convergentKey } from '../immutable/convergence.ts';
import { type ChkStep, type EncodeTools, encodeChk } from '../immutable/encoder.ts';
import type { ChkParams } from '../immutable/params.ts';
import { planChk } from '../immutable/plan.ts';
import type { PlaintextSource } from '../immutable/source.ts';
import type { StorageServerApi, UploadSecrets } from '../protocol/storage-api.ts';
import { type AesKey, asAesKey, type ServerId, type ShareNum } from '../types.ts';
import { CancelledError, NoServersError } from './errors.ts';
import { leaseSecretsFor } from './lease.ts';
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
  /** Connected storage servers (any order; they are permuted per file). */
  servers: readonly StorageServerApi[];
  params: ChkParams;
  /** The client's 32-byte lease secret (lease.ts). */
  clientSecret: Uint8Array;
  /** Convergence secret: same file + secret + params → same cap. null: a random key. */
  convergence: Uint8Array | null;
  tools: EncodeTools;
  onProgress?(p: UploadProgress): void;
  /** Told about each server dropped during the upload (the upload goes on while happy). */
  onServerLost?(serverId: ServerId, reason: unknown): void;
  signal?: AbortSignal;
  /** Per-server in-flight write budget, bytes (default 1 MiB: enough to keep a LAN server busy; each
   * byte in flight is held about three times over: the data, its frame, the masked frame). */
  maxInFlightBytesPerServer?: number;
  /** How far (bytes of share data) the encoder may run ahead of the writes (default 4 MiB). */
  encodeAheadBytes?: number;
  /** Contiguous writes to a share are joined up to this size before sending (default 256 KiB). */
  coalesceBytes?: number;
  /** A server call taking longer than this counts as that server failing (default 60 s). */
  callTimeoutMs?: number;
  /** Timeout of the "what do you hold?" queries (default 15 s). */
  queryTimeoutMs?: number;
  /** Random bytes (upload secrets, random keys); crypto.getRandomValues by default. */
  randomBytes?(n: number): Uint8Array;
}

export interface UploadResult {
  cap: ChkCap | LitCap;
  /** Servers-of-happiness when the upload finished (0 for LIT caps). */
  happiness: number;
  /** Shares written per server (shares already on servers are not listed). */
  written: Map<ServerId, ShareNum[]>;
}

const defaultRandom = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('the upload was cancelled');
}

export async function uploadImmutable(source: PlaintextSource, opts: UploadOptions): Promise<UploadResult> {
  const random = opts.randomBytes ?? defaultRandom;
  const plan = planChk(source.size, opts.params);
  const progress = (encoded: number, acked: number) =>
    opts.onProgress?.({ encoded, acked, total: source.size });

  if (plan.kind === 'lit') {
    // Tiny files live in the cap itself; no server is involved.
    for await (const step of encodeChk(source, opts.params, randomKeyFrom(random), opts.tools)) {
      if (step.kind === 'done') {
        progress(source.size, source.size);
        return { cap: step.cap, happiness: 0, written: new Map() };
      }
    }
    throw new CairnError('INTERNAL', 'the encoder ended without a cap');
  }
  if (opts.servers.length === 0) {
    throw new NoServersError('no storage servers are connected; is the grid running?');
  }

  checkSignal(opts.signal);
  const key =
    opts.convergence === null
      ? randomKeyFrom(random)
      : await convergentKey(source, opts.params, opts.convergence, opts.tools.backend);
  checkSignal(opts.signal);
  const si = chkStorageIndex(key);

  const uploadSecrets = new Map<ServerId, Uint8Array>();
  const uploadSecretFor = (serverId: ServerId) => {
    let s = uploadSecrets.get(serverId);
    if (!s) {
      s = random(32);
      uploadSecrets.set(serverId, s);
    }
    return s;
  };
  const secretsFor = (serverId: ServerId): UploadSecrets => ({
    ...leaseSecretsFor(opts.clientSecret, si, serverId),
    upload: uploadSecretFor(serverId),
  });

  const shareholders = await selectShareholders({
    si,
    k: plan.k,
    happy: opts.params.happy,
    n: plan.n,
    allocatedSize: plan.shareSize,
    servers: opts.servers,
    secretsFor,
    queryTimeoutMs: opts.queryTimeoutMs,
  });
  const writer = new ShareWriter({
    si,
    k: plan.k,
    happy: opts.params.happy,
    n: plan.n,
    shareholders,
    uploadSecretFor,
    maxInFlightBytes: opts.maxInFlightBytesPerServer,
    coalesceBytes: opts.coalesceBytes,
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
    await writer.abort();
    throw err;
  }
}

function randomKeyFrom(random: (n: number) => Uint8Array): AesKey {
  return asAesKey(random(16));
}
