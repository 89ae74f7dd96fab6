/**
 * `cairn debug fec-encode | fec-decode | fec-bench`: the zfec-compatible codec on local
 * files. Share files are named by share number, as zfec's blocks are: OUTDIR/0 … OUTDIR/(N-1).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Codec, CodecError, loadCodec, MAX_SHARES } from '../../../core/codec/index.ts';
import { prepareJob, warmUp } from '../../../core/codec/throughput.ts';
import { intOption, parse } from '../../args.ts';
import { type Command, UsageError } from '../../command.ts';

const VARIANTS = ['auto', 'relaxed', 'simd', 'scalar'] as const;
type Variant = (typeof VARIANTS)[number];

const commonOptions = {
  k: { type: 'string' },
  n: { type: 'string' },
  variant: { type: 'string' },
} as const;

/** k and N from the options, checked the way the codec checks them, as usage errors. */
function kn(values: { k?: string; n?: string }): { k: number; n: number } {
  const k = intOption(values.k, 'k', 1, MAX_SHARES);
  const n = intOption(values.n, 'n', 1, MAX_SHARES);
  if (k > n) throw new UsageError(`--k (${k}) must not exceed --n (${n})`);
  return { k, n };
}

async function codecFor(variant: string | undefined): Promise<Codec> {
  const v = (variant ?? 'auto') as Variant;
  if (!VARIANTS.includes(v)) throw new UsageError(`--variant must be one of ${VARIANTS.join(', ')}`);
  try {
    return await loadCodec({ variant: v });
  } catch (err) {
    if (err instanceof CodecError && err.code === 'UNSUPPORTED') throw new UsageError(err.message);
    throw err;
  }
}

async function readInput(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${what} ${file} does not exist`);
    if (code === 'EISDIR') throw new UsageError(`${what} ${file} is a directory`);
    throw err;
  }
}

function positionals(list: string[], names: string[]): string[] {
  if (list.length !== names.length) {
    throw new UsageError(`expected ${names.join(' and ')}, got ${list.length} argument(s)`);
  }
  return list;
}

const encodeUsage = `usage: cairn debug fec-encode --k K --n N [--variant V] IN OUTDIR

Splits IN (its length a multiple of K) into K equal blocks, erasure-codes them as zfec
does, and writes the N blocks to OUTDIR/0 … OUTDIR/(N-1).
  --k K        blocks needed to recover (1 <= K <= N)
  --n N        blocks written (N <= ${MAX_SHARES})
  --variant V  codec build: auto (default), relaxed, simd or scalar`;

export const fecEncodeCommand: Command = {
  name: 'fec-encode',
  summary: 'erasure-code a file into N zfec-compatible share blocks',
  usage: encodeUsage,
  async run(argv) {
    const { values, positionals: pos } = parse(argv, commonOptions, 2);
    const { k, n } = kn(values);
    const [input, outDir] = positionals(pos, ['IN', 'OUTDIR']);
    const codec = await codecFor(values.variant);
    const bytes = await readInput(input, 'input');
    if (bytes.length % k !== 0) {
      throw new UsageError(`input is ${bytes.length} bytes, not a multiple of --k ${k}`);
    }
    const len = bytes.length / k;
    const blocks = Array.from({ length: k }, (_, j) => bytes.subarray(j * len, (j + 1) * len));
    const shares = codec.encode(k, n, blocks);
    await mkdir(outDir, { recursive: true });
    await Promise.all(shares.map((b, i) => writeFile(path.join(outDir, String(i)), b)));
    return 0;
  },
};

/** "3,7,9" → [3, 7, 9]: exactly k distinct share numbers below n. */
function shareList(text: string | undefined, k: number, n: number): number[] {
  if (text === undefined) throw new UsageError('--shares is required');
  const parts = text.split(',');
  if (!parts.every((p) => /^\d+$/.test(p))) {
    throw new UsageError(`--shares must be comma-separated share numbers, not '${text}'`);
  }
  const nums = parts.map(Number);
  if (nums.length !== k) throw new UsageError(`--shares lists ${nums.length} share(s); --k needs ${k}`);
  for (const s of nums) if (s >= n) throw new UsageError(`share ${s} is not below --n ${n}`);
  if (new Set(nums).size !== nums.length) throw new UsageError('--shares lists a share twice');
  return nums;
}

const decodeUsage = `usage: cairn debug fec-decode --k K --n N --shares i,j,… [--variant V] INDIR OUT

Reads the K share blocks INDIR/i, INDIR/j, … (as written by fec-encode or zfec) and writes
the original bytes to OUT.
  --k K          blocks needed to recover (1 <= K <= N)
  --n N          blocks the data was coded into (N <= ${MAX_SHARES})
  --shares LIST  exactly K distinct share numbers, comma-separated
  --variant V    codec build: auto (default), relaxed, simd or scalar`;

export const fecDecodeCommand: Command = {
  name: 'fec-decode',
  summary: 'rebuild a file from any K of its N share blocks',
  usage: decodeUsage,
  async run(argv) {
    const { values, positionals: pos } = parse(argv, { ...commonOptions, shares: { type: 'string' } }, 2);
    const { k, n } = kn(values);
    const shares = shareList(values.shares, k, n);
    const [inDir, output] = positionals(pos, ['INDIR', 'OUT']);
    const codec = await codecFor(values.variant);
    const blocks = await Promise.all(shares.map((s) => readInput(path.join(inDir, String(s)), 'share file')));
    const lengths = new Set(blocks.map((b) => b.length));
    if (lengths.size > 1) {
      throw new UsageError(`share files differ in length (${[...lengths].join(', ')} bytes)`);
    }
    const data = codec.decode(k, n, blocks, shares);
    const out = new Uint8Array(data.reduce((a, b) => a + b.length, 0));
    data.forEach((b, j) => {
      out.set(b, j * b.length);
    });
    await writeFile(output, out);
    return 0;
  },
};

const benchUsage = `usage: cairn debug fec-bench --k K --n N [--segment BYTES] [--mib M] [--variant V]

Erasure-codes M MiB of generated data in segments of BYTES (each split into K blocks of
ceil(BYTES/K) bytes) and prints the input MB/s (10^6 bytes/s) of encode and of the
worst-case decode (from shares N-K..N-1).
  --segment BYTES  segment size (default 131072)
  --mib M          MiB coded per measurement (default 64)
  --variant V      codec build: auto (default), relaxed, simd or scalar`;

export const fecBenchCommand: Command = {
  name: 'fec-bench',
  summary: 'measure erasure-coding speed (encode and worst-case decode MB/s)',
  usage: benchUsage,
  async run(argv) {
    const { values } = parse(
      argv,
      { ...commonOptions, segment: { type: 'string' }, mib: { type: 'string' } },
      0,
    );
    const { k, n } = kn(values);
    const segment = intOption(values.segment, 'segment', 1, 1 << 30, 128 * 1024);
    const mib = intOption(values.mib, 'mib', 1, 1 << 20, 64);
    const codec = await codecFor(values.variant);
    const job = prepareJob(codec, { k, n, segment });
    const calls = Math.max(1, Math.round((mib * 1024 * 1024) / job.bytesPerCall));
    const timed = (fn: () => void) => {
      warmUp(fn); // lets the engine tier up to optimised code, sizes memory, caches the matrix
      const start = performance.now();
      for (let i = 0; i < calls; i++) fn();
      return (calls * job.bytesPerCall) / ((performance.now() - start) * 1000);
    };
    const encode = timed(job.encodeOnce);
    const decode = timed(job.decodeOnce);
    console.log(`encode MB/s: ${encode.toFixed(1)} decode MB/s: ${decode.toFixed(1)}`);
    return 0;
  },
};

export const fecCommands: Command[] = [fecEncodeCommand, fecDecodeCommand, fecBenchCommand];
