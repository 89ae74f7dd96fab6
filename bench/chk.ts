/**
 * `npm run bench:chk`: CHK encode and decode MB/s (plaintext, 10^6 B/s) for a 64 MiB file,
 * (3,10), 128 KiB segments, in Node (node:crypto + wasm codec, one thread) and then in
 * Chromium (bench/chk-browser.ts: WebCrypto + wasm codec, main thread alone and with two
 * workers, whole-file hashes in one WebCrypto call; then two workers with them streamed
 * through hash-wasm, as the web app does), with the share of time each stage takes. Medians (and best) of 3 runs; the
 * machine is shared, so expect ±10-20% noise. `--node-only` skips Chromium, `--browser-only` skips Node; `--size MiB`
 * changes the file size.
 */
import { loadCodec } from '../core/codec/index.ts';
import { nodeCrypto } from '../core/primitives/crypto-node.ts';
import {
  benchData,
  type ChkBenchSetup,
  formatFigures,
  formatStages,
  measureChk,
  measureStages,
} from './chk-measure.ts';

const args = process.argv.slice(2);
const sizeArg = args.indexOf('--size');
const MiB = 1024 * 1024;
export const SETUP: ChkBenchSetup = {
  size: (sizeArg >= 0 ? Number(args[sizeArg + 1]) : 64) * MiB,
  params: { k: 3, happy: 7, n: 10, maxSegmentSize: 128 * 1024 },
  reps: 3,
};

// Tahoe-LAFS's own in-process figures on this machine (reference/performance.md), for scale.
const TAHOE =
  'Tahoe-LAFS in-process, 64 MiB, 128 KiB segments (reference, not measured here): encode 79, decode 96 MB/s';

async function main() {
  console.log(`CHK bench: ${SETUP.size / MiB} MiB, (k,N) = (3,10), 128 KiB segments; MB/s of plaintext\n`);
  if (!args.includes('--browser-only')) await nodeBench();
  if (!args.includes('--node-only')) {
    const { runBrowserBench } = await import('./chk-browser.ts');
    await runBrowserBench(SETUP);
  }
}

async function nodeBench() {
  const codec = await loadCodec();
  const data = benchData(SETUP.size);
  const node = await measureChk(
    `Node ${process.versions.node}, node:crypto, ${codec.variant}`,
    data,
    SETUP,
    nodeCrypto,
    codec,
  );
  console.log(formatFigures([node]));
  console.log(
    `\n${formatStages('Node stages (one thread):', await measureStages(data, SETUP, nodeCrypto, codec))}`,
  );
  console.log(`\n${TAHOE}`);
  console.log(
    `Node (medians) vs Tahoe: encode ${(node.encodeConvergent.median / 79).toFixed(1)}x, decode ${(node.decodeWorst.median / 96).toFixed(1)}x`,
  );
}

await main();
