/**
 * CHK throughput measurement shared by the Node bench (bench/chk.ts) and the Chromium page
 * (bench/chk-page/main.ts). MB/s = 10^6 bytes of plaintext per second. Every figure is the
 * median of `reps` whole-file runs, with the best run beside it (on a shared machine the
 * best is the closer estimate of what the code can do). Stage figures time each stage alone, on this thread,
 * over the same file, so their shares say where single-thread time goes.
 */
import type { ChkCap } from '../core/caps/immutable.ts';
import type { Codec } from '../core/codec/index.ts';
import { convergentKey, randomKey } from '../core/immutable/convergence.ts';
import { decodeChk } from '../core/immutable/decoder.ts';
import { encodeChk } from '../core/immutable/encoder.ts';
import { memoryShareReader } from '../core/immutable/memory.ts';
import type { ChkParams } from '../core/immutable/params.ts';
import { planChk } from '../core/immutable/plan.ts';
import type { SegmentRunner } from '../core/immutable/segment.ts';
import { bytesSource, type PlaintextSource } from '../core/immutable/source.ts';
import type { CryptoBackend } from '../core/primitives/crypto-backend.ts';
import { TAG_BLOCK, TAG_CRYPTTEXT, TAG_CRYPTTEXT_SEGMENT } from '../core/primitives/tags.ts';
import { tagPrefix } from '../core/primitives/tagged-hash.ts';
import { median } from './stats.ts';

export interface ChkBenchSetup {
  readonly size: number;
  readonly params: ChkParams;
  readonly reps: number;
}

/** MB/s: median and best of the runs. */
export interface Rate {
  readonly median: number;
  readonly best: number;
  /**
   * Cores kept busy through the runs (CPU seconds over wall seconds), where the runtime
   * can tell: the Node process, or Chromium's processes through the page's
   * `benchCpuSeconds` (bench/chk-browser.ts). On a machine of c cores, work that keeps b
   * busy with one worker can gain at most c/b from more.
   */
  readonly cores?: number;
}

export interface ChkFigures {
  readonly label: string;
  readonly encodeRandomKey: Rate;
  readonly encodeConvergent: Rate;
  readonly decodePrimary: Rate;
  readonly decodeWorst: Rate;
}

export interface StageFigures {
  /** MB/s of each stage alone over the file, and its share of the summed time. */
  readonly encode: Record<string, { mbps: number; share: number }>;
  readonly decode: Record<string, { mbps: number; share: number }>;
}

const now = () => performance.now();

export function benchData(size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536)
    globalThis.crypto.getRandomValues(data.subarray(off, off + 65536));
  return data;
}

/** CPU seconds so far of the processes doing the work, if this runtime can tell. */
async function cpuSeconds(): Promise<number | undefined> {
  const hook = (globalThis as { benchCpuSeconds?: () => Promise<number> }).benchCpuSeconds;
  if (hook) return hook();
  const proc = (globalThis as { process?: { cpuUsage(): { user: number; system: number } } }).process;
  if (!proc?.cpuUsage) return undefined;
  const u = proc.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function timed(reps: number, size: number, fn: () => Promise<void>): Promise<Rate> {
  const rates: number[] = [];
  let wall = 0;
  const cpu0 = await cpuSeconds();
  for (let r = 0; r < reps; r++) {
    const t = now();
    await fn();
    const seconds = (now() - t) / 1000;
    wall += seconds;
    rates.push(size / 1e6 / seconds);
  }
  const cpu1 = await cpuSeconds();
  const cores = cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / wall;
  return { median: median(rates), best: Math.max(...rates), cores };
}

/**
 * Encode; with `keep`, apply the writes to share buffers and return them (for decoding),
 * otherwise only count the bytes written (the upload is not part of the figure).
 */
export async function encodeOnce(
  source: PlaintextSource,
  params: ChkParams,
  backend: CryptoBackend,
  codec: Codec,
  runner: SegmentRunner | undefined,
  opts: { convergence?: Uint8Array; keep?: boolean; depth?: number } = {},
) {
  const plan = planChk(source.size, params);
  if (plan.kind !== 'chk') throw new Error('bench file must be a CHK file');
  const shares = opts.keep ? Array.from({ length: plan.n }, () => new Uint8Array(plan.shareSize)) : [];
  const key = opts.convergence ? await convergentKey(source, params, opts.convergence, backend) : randomKey();
  let cap: ChkCap | undefined;
  let written = 0;
  for await (const step of encodeChk(source, params, key, { backend, codec, runner, depth: opts.depth })) {
    for (const w of step.writes) {
      if (opts.keep) shares[w.shnum].set(w.data, w.offset);
      written += w.data.length;
    }
    if (step.kind === 'segment') step.release();
    if (step.kind === 'done' && step.cap.kind === 'chk') cap = step.cap;
  }
  if (written !== plan.n * plan.shareSize) throw new Error('encoder wrote the wrong number of bytes');
  return { cap: cap!, shares };
}

/**
 * The file as the encoder reads it. A runner that lends read buffers (the web app's pooled
 * runner) gets each segment copied into one, as the app reads a File into them; otherwise
 * views into `data`.
 */
export function sourceFor(data: Uint8Array, runner?: SegmentRunner): PlaintextSource {
  const lender = runner as (SegmentRunner & { readBuffer?(length: number): Uint8Array }) | undefined;
  if (!lender?.readBuffer) return bytesSource(data);
  return {
    size: data.length,
    async read(offset, length, into) {
      // As the app's read-ahead does: into the memory given (the key's pass), else a lent buffer.
      const buf = into && into.length >= length ? into.subarray(0, length) : lender.readBuffer!(length);
      buf.set(data.subarray(offset, offset + length));
      return buf;
    },
  };
}

export async function measureChk(
  label: string,
  data: Uint8Array,
  setup: ChkBenchSetup,
  backend: CryptoBackend,
  codec: Codec,
  runner?: SegmentRunner,
): Promise<ChkFigures> {
  const { params, reps } = setup;
  const source = sourceFor(data, runner);
  const secret = new Uint8Array(16).fill(97);
  await encodeOnce(source, params, backend, codec, runner); // warm-up
  const encodeRandomKey = await timed(reps, data.length, async () => {
    await encodeOnce(source, params, backend, codec, runner);
  });
  const encodeConvergent = await timed(reps, data.length, async () => {
    await encodeOnce(source, params, backend, codec, runner, { convergence: secret });
  });
  // Shares are made only now: hundreds of MiB held during the encode runs slow the GC.
  const { cap, shares } = await encodeOnce(source, params, backend, codec, runner, { keep: true });
  const decodeFrom = async (shnums: number[]) =>
    timed(reps, data.length, async () => {
      const reader = memoryShareReader(new Map(shnums.map((s) => [s, shares[s]])));
      let total = 0;
      for await (const chunk of decodeChk(cap, reader, { backend, codec, runner })) total += chunk.length;
      if (total !== data.length) throw new Error('decode returned the wrong length');
    });
  const { k, n } = params;
  const decodePrimary = await decodeFrom(Array.from({ length: k }, (_, i) => i));
  const decodeWorst = await decodeFrom(Array.from({ length: k }, (_, i) => n - k + i));
  return { label, encodeRandomKey, encodeConvergent, decodePrimary, decodeWorst };
}

/** Each pipeline stage alone, on this thread, over the whole file. */
export async function measureStages(
  data: Uint8Array,
  setup: ChkBenchSetup,
  backend: CryptoBackend,
  codec: Codec,
): Promise<StageFigures> {
  const plan = planChk(data.length, setup.params);
  if (plan.kind !== 'chk') throw new Error('bench file must be a CHK file');
  const { k, n, segmentSize } = plan;
  const key = randomKey();
  const segs: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += segmentSize) segs.push(data.subarray(off, off + segmentSize));
  const cts = await Promise.all(segs.map((s, i) => backend.aesCtr(key, i * segmentSize, s)));
  const split = (ct: Uint8Array) => {
    const padded = new Uint8Array(Math.ceil(ct.length / k) * k);
    padded.set(ct);
    const b = padded.length / k;
    return Array.from({ length: k }, (_, j) => padded.subarray(j * b, (j + 1) * b));
  };
  const pieces = cts.map(split);
  const blocks = pieces.map((p) => codec.encode(k, n, p));
  const worst = Array.from({ length: k }, (_, i) => n - k + i);
  const blockPrefix = tagPrefix(TAG_BLOCK);
  const segPrefix = tagPrefix(TAG_CRYPTTEXT_SEGMENT);
  // As encodeSegment lays blocks out: one buffer per segment, tag prefix before each block.
  const slotted = pieces.map((p) => {
    const b = p[0].length;
    const slot = blockPrefix.length + b;
    const all = new Uint8Array(n * slot);
    const views = Array.from({ length: n }, (_, i) =>
      all.subarray(i * slot + blockPrefix.length, (i + 1) * slot),
    );
    const hashed = Array.from({ length: n }, (_, i) => all.subarray(i * slot, (i + 1) * slot));
    for (let i = 0; i < n; i++) all.set(blockPrefix, i * slot);
    for (let j = 0; j < k; j++) views[j].set(p[j]);
    return { views, hashed };
  });
  const t = async (fn: () => Promise<void>) => (await timed(setup.reps, data.length, fn)).median;
  const encode = {
    'AES-CTR': await t(async () => {
      for (let i = 0; i < segs.length; i++) await backend.aesCtr(key, i * segmentSize, segs[i]);
    }),
    'SHA-256d segment leaves': await t(async () => {
      for (const ct of cts) await backend.taggedHashes(segPrefix, [ct]);
    }),
    'SHA-256d N block leaves': await t(async () => {
      for (const s of slotted) await backend.sha256dMany(s.hashed);
    }),
    'SHA-256d whole file': await t(async () => {
      const h = await backend.createHasher(tagPrefix(TAG_CRYPTTEXT), data.length);
      for (const ct of cts) h.update(ct);
      await h.digest();
    }),
    'RS encode': await t(async () => {
      for (const s of slotted) codec.encodeInto(k, n, s.views.slice(0, k), s.views.slice(k));
    }),
  };
  const decode = {
    'SHA-256d k block leaves': await t(async () => {
      for (const b of blocks)
        await backend.taggedHashes(
          blockPrefix,
          worst.map((s) => b[s]),
        );
    }),
    'RS decode (worst shares)': await t(async () => {
      for (const b of blocks)
        codec.decode(
          k,
          n,
          worst.map((s) => b[s]),
          worst,
        );
    }),
    'SHA-256d segment leaves': encode['SHA-256d segment leaves'],
    'AES-CTR': encode['AES-CTR'],
  };
  return { encode: shares(encode), decode: shares(decode) };
}

function shares(rates: Record<string, number>): Record<string, { mbps: number; share: number }> {
  const total = Object.values(rates).reduce((a, r) => a + 1 / r, 0);
  return Object.fromEntries(
    Object.entries(rates).map(([name, r]) => [name, { mbps: r, share: 1 / r / total }]),
  );
}

export function formatFigures(rows: ChkFigures[]): string {
  const cell = (r: Rate, width: number) =>
    `${r.median.toFixed(0)} (${r.best.toFixed(0)})${r.cores === undefined ? '' : ` ${r.cores.toFixed(2)}c`}`.padStart(
      width,
    );
  const head =
    `${'MB/s: median (best) cores busy'.padEnd(34)}${'encode, random key'.padStart(20)}${'encode, convergent'.padStart(20)}` +
    `${'decode 0..k-1'.padStart(20)}${'decode N-k..N-1'.padStart(20)}`;
  const lines = rows.map(
    (r) =>
      `${r.label.padEnd(34)}${cell(r.encodeRandomKey, 20)}${cell(r.encodeConvergent, 20)}` +
      `${cell(r.decodePrimary, 20)}${cell(r.decodeWorst, 20)}`,
  );
  return [head, ...lines].join('\n');
}

export function formatStages(title: string, s: StageFigures): string {
  const part = (name: string, rec: Record<string, { mbps: number; share: number }>) => [
    `  ${name}:`,
    ...Object.entries(rec).map(
      ([stage, f]) =>
        `    ${stage.padEnd(28)}${f.mbps.toFixed(0).padStart(7)} MB/s alone  ${(100 * f.share).toFixed(0).padStart(3)}% of stage time`,
    ),
  ];
  return [title, ...part('encode', s.encode), ...part('decode', s.decode)].join('\n');
}
