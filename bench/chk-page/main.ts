/** The Chromium half of `npm run bench:chk`: exposes window.runChkBench for bench/chk-browser.ts. */
import { loadCodec } from '../../core/codec/index.ts';
import type { CryptoBackend } from '../../core/primitives/crypto-backend.ts';
import { webCrypto as streamingWebCrypto, webCryptoBackend } from '../../core/primitives/crypto-web.ts';
import type { Remote } from 'comlink';
import { WorkerPool } from '../../web/workers/pool.ts';
import {
  benchData,
  type ChkBenchSetup,
  encodeOnce,
  measureChk,
  measureStages,
  sourceFor,
} from '../chk-measure.ts';
import { pooledRunner } from '../../web/workers/segment-runner.ts';
import type { ChkWorkerApi } from './worker.ts';

// Whole-file hashes in one WebCrypto call (the bench file fits): the fast path, memory of
// the file's size. The web app's default backend streams them through hash-wasm (memory
// flat); the last row measures that.
const webCrypto = webCryptoBackend({ oneShotHashLimit: 128 * 1024 * 1024 });

/** `size` bench workers (the literal `new Worker(new URL(…))` is where Vite finds the worker). */
function chkPool(size: number): WorkerPool<ChkWorkerApi> {
  return new WorkerPool<ChkWorkerApi>(
    () => new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }),
    { size },
  );
}

async function runChkBench(setup: ChkBenchSetup, workers: number) {
  const codec = await loadCodec();
  const data = benchData(setup.size);
  const rows = [await measureChk('Chromium, main thread', data, setup, webCrypto, codec)];
  const one = chkPool(1);
  await one.each((w) => w.init());
  rows.push(
    await measureChk(
      'Chromium, 1 worker, streamed hash',
      data,
      setup,
      streamingWebCrypto,
      codec,
      pooledRunner(one),
    ),
  );
  one.terminate();
  const pool = chkPool(workers);
  const variants = await pool.each((w) => w.init());
  rows.push(
    await measureChk(`Chromium, ${workers} workers`, data, setup, webCrypto, codec, pooledRunner(pool)),
    await measureChk(
      `Chromium, ${workers} workers, streamed hash`,
      data,
      setup,
      streamingWebCrypto,
      codec,
      pooledRunner(pool),
    ),
  );
  const primitives = await measurePrimitivesAlone(pool, setup);
  pool.terminate();
  const stages = await measureStages(data, setup, webCrypto, codec);
  return {
    userAgent: navigator.userAgent,
    variant: codec.variant,
    workerVariants: variants,
    rows,
    stages,
    primitives,
  };
}

/**
 * What the primitives alone allow this page (issue #16 points 1 and 4): aggregate MB/s of
 * SHA-256 over (k, N) block-sized inputs and of AES-CTR over segments (WebCrypto, 8 calls in
 * flight per worker), and of RS encode and worst-case decode (the wasm codec, reused blocks),
 * from one worker and then from each of the pool's workers (WebCrypto runs on the calling
 * worker's thread, so it spreads as far as the workers do); and the streamed whole-file hash,
 * which is one sequential pass whatever the workers. Per plaintext byte an encode hashes
 * N/k + 2 bytes, encrypts 1 and RS-encodes 1; a decode hashes 2 (k block leaves, the
 * segment leaf), RS-decodes 1 and decrypts 1. A convergent encode first hashes the whole
 * plaintext (the key), then encodes with the whole ciphertext hashed in sequence too.
 */
async function measurePrimitivesAlone(pool: WorkerPool<ChkWorkerApi>, setup: ChkBenchSetup) {
  const { k, n, maxSegmentSize } = setup.params;
  const block = Math.ceil(maxSegmentSize / k);
  const total = 256e6;
  const rate = async (workers: number, job: (w: Remote<ChkWorkerApi>, share: number) => Promise<number>) => {
    const t = performance.now();
    await Promise.all(Array.from({ length: workers }, () => pool.run((w) => job(w, total / workers))));
    return total / 1e6 / ((performance.now() - t) / 1000);
  };
  const both = async (job: (w: Remote<ChkWorkerApi>, share: number) => Promise<number>) => {
    await rate(pool.size, job); // warm-up: the codec's first calls compile
    return [await rate(1, job), await rate(pool.size, job)];
  };
  const sha = await both((w, t) => w.cryptoLoad('sha', t, block, 8));
  const aes = await both((w, t) => w.cryptoLoad('aes', t, maxSegmentSize, 8));
  const rsEncode = await both((w, t) => w.codecLoad('encode', k, n, t, maxSegmentSize));
  const rsDecode = await both((w, t) => w.codecLoad('decode', k, n, t, maxSegmentSize));
  await pool.run((w) => w.streamedHashLoad(32e6, maxSegmentSize));
  const sequentialHash = total / 1e3 / (await pool.run((w) => w.streamedHashLoad(total, maxSegmentSize)));
  const hashed = n / k + 2;
  // i = 0: one worker, 1: all of them.
  const encodeBound = (i: number) => 1 / (hashed / sha[i] + 1 / aes[i] + 1 / rsEncode[i]);
  const decodeBound = (i: number) => 1 / (2 / sha[i] + 1 / aes[i] + 1 / rsDecode[i]);
  const all = 1;
  return {
    workers: pool.size,
    hashed,
    sha,
    aes,
    rsEncode,
    rsDecode,
    sequentialHash,
    encodeBound: [encodeBound(0), encodeBound(all)],
    decodeBound: [decodeBound(0), decodeBound(all)],
    // The plaintext pass, then an encode no faster than its own sequential crypttext hash.
    convergentBound: 1 / (1 / sequentialHash + 1 / Math.min(sequentialHash, encodeBound(all))),
  };
}
export type PrimitivesAlone = Awaited<ReturnType<typeof measurePrimitivesAlone>>;

(globalThis as unknown as { runChkBench: typeof runChkBench }).runChkBench = runChkBench;
document.title = 'ready';

/**
 * Encode only (random key), `reps` times, with `workers` workers (0: this thread) and the
 * whole-file hash one-shot or streamed: for bench/chk-trace.ts, which traces these runs.
 */
async function runChkEncode(
  setup: ChkBenchSetup,
  workers: number,
  oneShot: boolean | 'none',
  depth?: number,
) {
  const codec = await loadCodec();
  const data = benchData(setup.size);
  // 'none': a whole-file hasher that does nothing (wrong caps; shows what the hash costs).
  const backend: CryptoBackend =
    oneShot === 'none'
      ? { ...webCrypto, createHasher: async () => ({ update() {}, digest: async () => new Uint8Array(32) }) }
      : oneShot
        ? webCrypto
        : streamingWebCrypto;
  const pool = workers ? chkPool(workers) : undefined;
  if (pool) await pool.each((w) => w.init());
  const runner = pool ? pooledRunner(pool) : undefined;
  const source = sourceFor(data, runner);
  await encodeOnce(source, setup.params, backend, codec, runner, { depth }); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < setup.reps; r++) {
    const t = performance.now();
    await encodeOnce(source, setup.params, backend, codec, runner, { depth });
    rates.push(data.length / 1e6 / ((performance.now() - t) / 1000));
  }
  // The pool stays up: the tracer stops the workers' profiles after this returns.
  return rates;
}
(globalThis as unknown as { runChkEncode: typeof runChkEncode }).runChkEncode = runChkEncode;

/** Segments encoded inside the workers alone (no coordinator): MB/s with 1 and with all workers. */
async function runWorkerLoop(workers: number, depth: number, count: number) {
  const pool = chkPool(workers);
  await pool.each((w) => w.init());
  const size = 128 * 1024;
  const out: number[] = [];
  for (const w of [1, workers]) {
    await pool.each((r) => r.encodeLoop(32, size, depth)); // warm-up
    const t = performance.now();
    await Promise.all(Array.from({ length: w }, () => pool.run((r) => r.encodeLoop(count / w, size, depth))));
    out.push((count * size) / 1e6 / ((performance.now() - t) / 1000));
  }
  pool.terminate();
  return out;
}
(globalThis as unknown as { runWorkerLoop: typeof runWorkerLoop }).runWorkerLoop = runWorkerLoop;

/** MB/s of WebCrypto alone from one worker over `size`-byte calls, 8 in flight. */
async function runCryptoLoad(op: 'sha' | 'aes', sizes: number[]) {
  const pool = chkPool(1);
  const out: Record<number, number> = {};
  for (const size of sizes) {
    await pool.run((w) => w.cryptoLoad(op, 16e6, size, 8));
    const ms = await pool.run((w) => w.cryptoLoad(op, 128e6, size, 8));
    out[size] = 128e6 / 1e3 / ms;
  }
  pool.terminate();
  return out;
}
(globalThis as unknown as { runCryptoLoad: typeof runCryptoLoad }).runCryptoLoad = runCryptoLoad;
