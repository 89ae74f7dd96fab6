/**
 * `npm run bench:codec`: MB/s (input bytes, 10^6/s) of the wasm codec builds against
 * python3-zfec measured in the same run, on 128 KiB segments, for (3,10), (10,14) and
 * (71,255). Decode is the worst case (shares N-k..N-1). Then the same in Chromium
 * (bench/codec-browser.ts, which measures zfec afresh just before) unless --node-only. Figures are medians of 5 runs after a
 * warm-up; the machine is shared, so expect ±10-20% noise.
 *
 * Node 20 runs relaxed SIMD only behind --experimental-wasm-relaxed-simd; this script
 * measures it in a child process with that flag, reported as "relaxed (flag)".
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type KernelVariant, loadCodec, supportedVariants } from '../core/codec/index.ts';
import { prepareJob, rateStats } from '../core/codec/throughput.ts';
import { CASES, type Figure, MIN_MS, measureZfec, printTable, REPS, SEGMENT } from './codec-common.ts';

async function measureVariant(
  variant: KernelVariant,
  label: string = variant,
  cases = CASES,
): Promise<Figure[]> {
  const codec = await loadCodec({ variant });
  return cases.map(([k, n]) => {
    const job = prepareJob(codec, { k, n, segment: SEGMENT });
    const e = rateStats(job.encodeOnce, job.bytesPerCall, MIN_MS, REPS);
    const d = rateStats(job.decodeOnce, job.bytesPerCall, MIN_MS, REPS);
    return {
      k,
      n,
      impl: label,
      encode: e.median,
      decode: d.median,
      encodeSpread: [e.min, e.max],
      decodeSpread: [d.min, d.max],
    };
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--child-relaxed')) {
    // Child mode: the relaxed build's figures as JSON for the parent.
    console.log(JSON.stringify(await measureVariant('relaxed', 'relaxed (node flag)')));
    return;
  }
  // Other processes skew every figure; the load average says how much.
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(`machine: ${cpus().length} cores, load average ${load()} before the run`);
  // Case by case, zfec first and the wasm builds right after, so that both see the same
  // load from whatever else the machine is doing.
  const zfec: Figure[] = [];
  const figures: Figure[] = [];
  for (const c of CASES) {
    zfec.push(...(await measureZfec([c])));
    for (const v of supportedVariants()) figures.push(...(await measureVariant(v, v, [c])));
  }
  if (!supportedVariants().includes('relaxed')) {
    const out = execFileSync(
      process.execPath,
      [
        '--experimental-wasm-relaxed-simd',
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        '--child-relaxed',
      ],
      { encoding: 'utf8' },
    );
    figures.push(...(JSON.parse(out.trim().split('\n').pop()!) as Figure[]));
  }
  printTable(
    `Node ${process.version}: 128 KiB segments, MB/s of input, median of ${REPS}; decode from shares N-k..N-1`,
    figures,
    zfec,
  );
  console.log(`load average ${load()} after the Node run`);
  if (!argv.includes('--node-only')) {
    const { runBrowserBench } = await import('./codec-browser.ts');
    await runBrowserBench();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
