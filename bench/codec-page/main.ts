/**
 * The codec bench page (built by Vite, driven by bench/codec-browser.ts): checks that the
 * page and a module worker produce zfec's bytes, then measures every build on the main
 * thread, the auto build in one worker, and encode throughput of 1 and 2 workers at once.
 * Results land in `window.codecBench` as JSON.
 */
import { transfer } from 'comlink';
import { loadCodec, supportedVariants } from '../../core/codec/index.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { prepareJob, rateStats } from '../../core/codec/throughput.ts';
import type { CodecWorkerApi } from '../../web/workers/codec-worker.ts';
import { WorkerPool } from '../../web/workers/pool.ts';

const CASES: Array<[number, number]> = [
  [3, 10],
  [10, 14],
  [71, 255],
];
const SEGMENT = 128 * 1024;

interface Figure {
  k: number;
  n: number;
  impl: string;
  encode: number;
  decode: number;
  encodeSpread?: [number, number];
  decodeSpread?: [number, number];
}

declare global {
  interface Window {
    codecBench?: unknown;
  }
}

const makePool = (size: number) =>
  new WorkerPool<CodecWorkerApi>(
    () => new Worker(new URL('../../web/workers/codec-worker.ts', import.meta.url), { type: 'module' }),
    { size },
  );

async function check(pool: WorkerPool<CodecWorkerApi>): Promise<string[]> {
  const problems: string[] = [];
  const known = '0102 0304 0506 092a 11d2 2185 41f9 816e 1cfc 3b7b';
  const pieces = () => [new Uint8Array([1, 2]), new Uint8Array([3, 4]), new Uint8Array([5, 6])];
  for (const variant of supportedVariants()) {
    const codec = await loadCodec({ variant });
    const got = codec.encode(3, 10, pieces()).map(toHex).join(' ');
    if (got !== known) problems.push(`page ${variant}: ${got}`);
  }
  const blocks = pieces();
  const fromWorker = await pool.run((w) =>
    w.encode(
      3,
      10,
      transfer(
        blocks,
        blocks.map((b) => b.buffer),
      ),
    ),
  );
  if (fromWorker.map(toHex).join(' ') !== known) problems.push(`worker: ${fromWorker.map(toHex).join(' ')}`);
  // A bigger case through the worker's transfer path against the page's scalar build.
  const scalar = await loadCodec({ variant: 'scalar' });
  const data = Array.from({ length: 10 }, (_, j) => {
    const b = new Uint8Array(13_001);
    for (let i = 0; i < b.length; i++) b[i] = (i * 31 + j * 7) ^ (i >> 5);
    return b;
  });
  const want = scalar.encode(10, 14, data);
  const got = await pool.run((w) => w.encodeParity(10, 14, data));
  for (let i = 0; i < 4; i++) if (toHex(got[i]) !== toHex(want[10 + i])) problems.push(`worker parity ${i}`);
  const back = await pool.run((w) =>
    w.decode(10, 14, [...want.slice(4, 14)], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
  );
  for (let i = 0; i < 10; i++) if (toHex(back[i]) !== toHex(data[i])) problems.push(`worker decode ${i}`);
  return problems;
}

async function run(): Promise<unknown> {
  const params = new URLSearchParams(location.search);
  const minMs = Number(params.get('ms') ?? 150);
  const reps = Number(params.get('reps') ?? 5);
  const pool1 = makePool(1);
  const problems = await check(pool1);
  const auto = (await loadCodec()).variant;
  if (params.has('check')) {
    // Correctness only (test/unit/codec-browser.test.ts): no timings.
    pool1.terminate();
    return {
      userAgent: navigator.userAgent,
      cores: navigator.hardwareConcurrency,
      variants: supportedVariants(),
      auto,
      problems,
      page: [],
      workers: [],
    };
  }

  const page: Figure[] = [];
  for (const variant of supportedVariants()) {
    const codec = await loadCodec({ variant });
    for (const [k, n] of CASES) {
      const job = prepareJob(codec, { k, n, segment: SEGMENT });
      const e = rateStats(job.encodeOnce, job.bytesPerCall, minMs, reps);
      const d = rateStats(job.decodeOnce, job.bytesPerCall, minMs, reps);
      page.push({
        k,
        n,
        impl: `${variant} (page)`,
        encode: e.median,
        decode: d.median,
        encodeSpread: [e.min, e.max],
        decodeSpread: [d.min, d.max],
      });
    }
  }

  const workers: Figure[] = [];
  const workerVariant = await pool1.run((w) => w.init());
  for (const [k, n] of CASES) {
    const r = await pool1.run((w) => w.bench({ k, n, segment: SEGMENT }, minMs, reps));
    workers.push({
      k,
      n,
      impl: `${workerVariant} (1 worker)`,
      encode: r.encode.median,
      decode: r.decode.median,
      encodeSpread: [r.encode.min, r.encode.max],
      decodeSpread: [r.decode.min, r.decode.max],
    });
  }
  pool1.terminate();

  // Aggregate encode throughput with 2 workers running at once (one per core here).
  const pool2 = makePool(2);
  await pool2.each((w) => w.init());
  for (const [k, n] of CASES.slice(0, 2)) {
    const job = { k, n, segment: SEGMENT };
    await pool2.each((w) => w.encodeFor(job, 300)); // warm-up
    const runs = await pool2.each((w) => w.encodeFor(job, 1000));
    const bytes = runs.reduce((a, r) => a + r.bytes, 0);
    const ms = Math.max(...runs.map((r) => r.ms));
    workers.push({
      k,
      n,
      impl: `${workerVariant} (2 workers)`,
      encode: bytes / (ms * 1000),
      decode: Number.NaN,
    });
  }
  pool2.terminate();

  return {
    userAgent: navigator.userAgent,
    cores: navigator.hardwareConcurrency,
    variants: supportedVariants(),
    auto,
    problems,
    page,
    workers,
  };
}

const out = document.getElementById('out')!;
run().then(
  (result) => {
    out.textContent = JSON.stringify(result, null, 2);
    window.codecBench = result;
  },
  (err: unknown) => {
    const message = err instanceof Error ? `${err.message}\n${err.stack}` : String(err);
    out.textContent = message;
    window.codecBench = { error: message };
  },
);
