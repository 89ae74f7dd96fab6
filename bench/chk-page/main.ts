/** The Chromium half of `npm run bench:chk`: exposes window.runChkBench for bench/chk-browser.ts. */
import { loadCodec } from '../../core/codec/index.ts';
import { webCrypto as streamingWebCrypto, webCryptoBackend } from '../../core/primitives/crypto-web.ts';
import { WorkerPool } from '../../web/workers/pool.ts';
import { benchData, type ChkBenchSetup, measureChk, measureStages } from '../chk-measure.ts';
import { workerRunner } from './runner.ts';
import type { ChkWorkerApi } from './worker.ts';

// Whole-file hashes in one WebCrypto call (the bench file fits): the fast path, memory of
// the file's size. The web app's default backend streams them through hash-wasm (memory
// flat); the last row measures that.
const webCrypto = webCryptoBackend({ oneShotHashLimit: 128 * 1024 * 1024 });

async function runChkBench(setup: ChkBenchSetup, workers: number) {
  const codec = await loadCodec();
  const data = benchData(setup.size);
  const rows = [await measureChk('Chromium, main thread', data, setup, webCrypto, codec)];
  const pool = new WorkerPool<ChkWorkerApi>(
    () => new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }),
    { size: workers },
  );
  const variants = await pool.each((w) => w.init());
  rows.push(
    await measureChk(`Chromium, ${workers} workers`, data, setup, webCrypto, codec, workerRunner(pool)),
    await measureChk(
      `Chromium, ${workers} workers, streamed hash`,
      data,
      setup,
      streamingWebCrypto,
      codec,
      workerRunner(pool),
    ),
  );
  const cryptoThread = await measureCryptoThread(pool, setup);
  pool.terminate();
  const stages = await measureStages(data, setup, webCrypto, codec);
  return {
    userAgent: navigator.userAgent,
    variant: codec.variant,
    workerVariants: variants,
    rows,
    stages,
    cryptoThread,
  };
}

/**
 * What Chromium's WebCrypto can do for this page at all: aggregate MB/s of SHA-256 over
 * (3,10) block-sized inputs and of AES-CTR over segments, with 8 calls in flight from one
 * worker and then from each of the pool's workers (WebCrypto runs calls on a small thread
 * pool of the renderer). The encoder hashes N/k + 2 bytes and encrypts 1 byte per plaintext
 * byte, so at these rates it could not run faster than 1 / (hashed / SHA + 1 / AES).
 */
async function measureCryptoThread(pool: WorkerPool<ChkWorkerApi>, setup: ChkBenchSetup) {
  const { k, n, maxSegmentSize } = setup.params;
  const block = Math.ceil(maxSegmentSize / k);
  const total = 256e6;
  const run = async (op: 'sha' | 'aes', size: number, workers: number) => {
    const t = performance.now();
    await Promise.all(
      Array.from({ length: workers }, () => pool.run((w) => w.cryptoLoad(op, total / workers, size, 8))),
    );
    return total / 1e6 / ((performance.now() - t) / 1000);
  };
  const sha = [await run('sha', block, 1), await run('sha', block, pool.size)];
  const aes = [await run('aes', maxSegmentSize, 1), await run('aes', maxSegmentSize, pool.size)];
  const hashed = n / k + 2;
  const best = (xs: number[]) => Math.max(...xs);
  return { sha, aes, workers: pool.size, hashed, ceiling: 1 / (hashed / best(sha) + 1 / best(aes)) };
}

(globalThis as unknown as { runChkBench: typeof runChkBench }).runChkBench = runChkBench;
document.title = 'ready';
