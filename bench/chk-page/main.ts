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

async function runChkBench(setup: ChkBenchSetup, workers: number, sweep: number[] = []) {
  const codec = await loadCodec();
  const data = benchData(setup.size);
  const rows = [await measureChk('Chromium, main thread', data, setup, webCrypto, codec)];
  const makePool = async (localHashShare?: number) => {
    const pool = new WorkerPool<ChkWorkerApi>(
      () => new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }),
      { size: workers },
    );
    return { pool, variants: await pool.each((w) => w.init(localHashShare)) };
  };
  const { pool, variants } = await makePool();
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
  pool.terminate();
  // How much of each batch of N block hashes the workers hash themselves (hash-wasm) while
  // Chromium's one crypto thread does the rest: 0 = all WebCrypto.
  for (const share of sweep) {
    const p = await makePool(share);
    rows.push(
      await measureChk(
        `  ${workers} workers, local share ${share}`,
        data,
        setup,
        webCrypto,
        codec,
        workerRunner(p.pool),
      ),
    );
    p.pool.terminate();
  }
  const stages = await measureStages(data, setup, webCrypto, codec);
  return { userAgent: navigator.userAgent, variant: codec.variant, workerVariants: variants, rows, stages };
}

(globalThis as unknown as { runChkBench: typeof runChkBench }).runChkBench = runChkBench;
document.title = 'ready';
