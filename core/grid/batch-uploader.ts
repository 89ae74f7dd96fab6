/**
 * Small immutable files uploaded together. Each file is encoded whole in memory and placed as
 * Tahoe places a fresh upload (its shares spread one per server over the first writable
 * servers of its permuted list); then every server is sent one `put` for the whole batch
 * instead of an allocate and a write per file: for a tree of small files that is most of what
 * client and servers spend. A file the batch leaves unhappy (a server refused or failed) comes
 * back as null, for the caller to upload the usual way, which finds what the batch stored and
 * tops it up.
 */
import { type ChkCap, chkStorageIndex, type LitCap } from '../caps/immutable.ts';
import { convergentKey } from '../immutable/convergence.ts';
import type { EncodeTools } from '../immutable/encoder.ts';
import { encodeToShares } from '../immutable/memory.ts';
import type { ChkParams } from '../immutable/params.ts';
import { planChk } from '../immutable/plan.ts';
import type { PlaintextSource } from '../immutable/source.ts';
import * as L from '../protocol/limits.ts';
import type { StorageServerApi, WholeShares, WholeSharesResult } from '../protocol/storage-api.ts';
import { type AesKey, asAesKey, type ServerId, type ShareNum } from '../types.ts';
import { CancelledError } from './errors.ts';
import { addShares, happinessOf } from './happiness.ts';
import { fileSecrets, serverSecrets } from './lease.ts';
import { permuteServers } from './permute.ts';
import { placeShares } from './placement.ts';
import { withTimeout } from './timeout.ts';
import { cachedVersion } from './version-cache.ts';

/** A file whose shares are at most this long goes in a batch (one `put` holds many). */
export const BATCH_SHARE_BYTES = 256 * 1024;
/** Files callers gather into batches: up to this size each (read whole into memory)... */
export const BATCH_FILE_BYTES = 256 * 1024;
/** ...at most this many in a batch, and this many bytes of them. */
export const BATCH_FILES = 64;
export const BATCH_BYTES = 2 * 1024 * 1024;

/** Splits `items` (each at most BATCH_FILE_BYTES) into batches within BATCH_FILES and BATCH_BYTES. */
export function batchesOf<T>(items: readonly T[], size: (item: T) => number): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (batch.length === BATCH_FILES || (batch.length > 0 && bytes + size(item) > BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size(item);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export interface BatchUploadOptions {
  /** Connected storage servers (any order; permuted per file). */
  servers: readonly StorageServerApi[];
  params: ChkParams;
  /** The client's 32-byte lease secret (lease.ts). */
  clientSecret: Uint8Array;
  /** Convergence secret; null: random keys. */
  convergence: Uint8Array | null;
  tools: EncodeTools;
  /** A server taking longer than this to answer its `put` counts as failing (default 60 s). */
  callTimeoutMs?: number;
  randomBytes?(n: number): Uint8Array;
  signal?: AbortSignal;
}

export interface BatchUploaded {
  cap: ChkCap | LitCap;
  /** Servers-of-happiness after the batch (0 for LIT caps). */
  happiness: number;
  /** Share bytes sent for this file. */
  sentBytes: number;
}

interface Encoded {
  index: number;
  cap: ChkCap;
  shareSize: number;
  /** Every server's part of this file, to be sent in its `put`. */
  parts: Map<StorageServerApi, WholeShares>;
  /** What servers hold of it after the batch, for happiness. */
  placed: Map<ServerId, Set<ShareNum>>;
  sent: number;
}

const defaultRandom = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/**
 * Uploads `sources` in one batch; results in their order: the cap, or null where the file is
 * too big for a batch or the batch could not place it happily.
 */
export async function uploadBatch(
  sources: readonly PlaintextSource[],
  opts: BatchUploadOptions,
): Promise<(BatchUploaded | null)[]> {
  const results: (BatchUploaded | null)[] = sources.map(() => null);
  const checkSignal = () => {
    if (opts.signal?.aborted) throw new CancelledError('the upload was cancelled');
  };
  const usable = await writableServers(opts);
  const files: Encoded[] = [];
  for (const [index, source] of sources.entries()) {
    checkSignal();
    const plan = planChk(source.size, opts.params);
    if (plan.kind === 'lit') {
      const { cap } = await encodeToShares(source, opts.params, randomKey(opts), opts.tools);
      results[index] = { cap, happiness: 0, sentBytes: 0 };
      continue;
    }
    if (plan.shareSize > BATCH_SHARE_BYTES) continue;
    const servers = usable.filter((s) => s.maxShare >= plan.shareSize).map((s) => s.api);
    if (servers.length < opts.params.happy) continue;
    const key =
      opts.convergence === null
        ? randomKey(opts)
        : await convergentKey(source, opts.params, opts.convergence, opts.tools.backend);
    const si = chkStorageIndex(key);
    // Tahoe's candidates are the first 2N servers of the permuted list; with none holding
    // anything yet, placement spreads the shares one per server in that order.
    const candidates = permuteServers(si, servers).slice(0, 2 * plan.n);
    const byId = new Map(candidates.map((api) => [api.serverId, api]));
    const { placement, happiness } = placeShares({
      shares: Array.from({ length: plan.n }, (_, i) => i as ShareNum),
      writable: candidates.map((api) => api.serverId),
      readOnly: [],
      existing: new Map(),
    });
    if (happiness < opts.params.happy) continue;
    const encoded = await encodeToShares(source, opts.params, key, opts.tools);
    const file = fileSecrets(opts.clientSecret, si);
    const parts = new Map<StorageServerApi, WholeShares>();
    for (const [sh, serverId] of placement) {
      const api = byId.get(serverId) as StorageServerApi;
      let part = parts.get(api);
      if (!part) {
        part = { si, secrets: serverSecrets(file, serverId), size: plan.shareSize, shares: new Map() };
        parts.set(api, part);
      }
      part.shares.set(sh, encoded.shares[sh]);
    }
    files.push({
      index,
      cap: encoded.cap as ChkCap,
      shareSize: plan.shareSize,
      parts,
      placed: new Map(),
      sent: 0,
    });
  }
  checkSignal();

  // Each server's files, in requests that keep within a frame and a put's share count.
  const requests: { api: StorageServerApi; files: Encoded[] }[] = [];
  const open = new Map<StorageServerApi, { files: Encoded[]; shares: number; bytes: number }>();
  for (const f of files) {
    for (const [api, part] of f.parts) {
      const shares = part.shares.size;
      const bytes = shares * f.shareSize;
      let r = open.get(api);
      if (r && (r.shares + shares > L.MAX_PUT_SHARES || r.bytes + bytes > L.MAX_WRITE_BYTES)) {
        requests.push({ api, files: r.files });
        r = undefined;
      }
      if (!r) {
        r = { files: [], shares: 0, bytes: 0 };
        open.set(api, r);
      }
      r.files.push(f);
      r.shares += shares;
      r.bytes += bytes;
    }
  }
  for (const [api, r] of open) requests.push({ api, files: r.files });

  const timeout = opts.callTimeoutMs ?? 60_000;
  const extraLeases: Promise<unknown>[] = [];
  await Promise.all(
    requests.map(async ({ api, files: batch }) => {
      const parts = batch.map((f) => f.parts.get(api) as WholeShares);
      let answers: WholeSharesResult[];
      try {
        answers = await withTimeout(api.putShares!(parts), timeout, 'a storage server');
      } catch {
        return; // a failing server stores nothing of this batch: happiness tells
      }
      for (const [i, f] of batch.entries()) {
        const a = answers[i];
        const part = parts[i];
        addShares(f.placed, api.serverId, [...a.stored, ...a.alreadyHave, ...a.held]);
        f.sent += part.shares.size * f.shareSize;
        // Shares it holds that were not asked for count too: keep them leased, as an
        // upload the usual way does (best effort).
        if (a.held.some((s) => !part.shares.has(s))) {
          extraLeases.push(withTimeout(api.addLease(part.si, part.secrets), timeout, 'a storage server'));
        }
      }
    }),
  );
  await Promise.allSettled(extraLeases);
  for (const f of files) {
    const happiness = happinessOf(f.placed);
    if (happiness >= opts.params.happy) results[f.index] = { cap: f.cap, happiness, sentBytes: f.sent };
  }
  return results;
}

/** Servers that take `put`, with the biggest share each has room for (version answers are cached). */
async function writableServers(
  opts: BatchUploadOptions,
): Promise<{ api: StorageServerApi; maxShare: number }[]> {
  const timeout = opts.callTimeoutMs ?? 60_000;
  const answers = await Promise.allSettled(
    opts.servers
      .filter((api) => api.acceptsPut && api.putShares)
      .map(async (api) => {
        const v = await withTimeout(cachedVersion(api), timeout, 'a storage server');
        return { api, maxShare: Math.min(v.maximumImmutableShareSize, v.availableSpace) };
      }),
  );
  return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
}

function randomKey(opts: BatchUploadOptions): AesKey {
  return asAesKey((opts.randomBytes ?? defaultRandom)(16));
}
