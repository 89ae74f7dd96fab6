/**
 * `cairn debug chk-cap | chk-shares`: what Tahoe-LAFS would make of a local file, with no
 * server. chk-shares writes each share's bytes (Tahoe layout, share data only, no server
 * container header) to OUTDIR/<share number>, streaming: memory stays a few segments.
 */
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { formatCap } from '../../../core/caps/immutable.ts';
import { loadCodec } from '../../../core/codec/index.ts';
import { convergentKey } from '../../../core/immutable/convergence.ts';
import { encodeChk } from '../../../core/immutable/encoder.ts';
import type { ChkParams } from '../../../core/immutable/params.ts';
import { type ClosableSource, fileSource } from '../../../core/immutable/source-node.ts';
import { nodeCrypto } from '../../../core/primitives/crypto-node.ts';
import { intOption, parse } from '../../args.ts';
import { type Command, UsageError } from '../../command.ts';

const options = {
  convergence: { type: 'string' },
  k: { type: 'string' },
  n: { type: 'string' },
  'segment-size': { type: 'string' },
} as const;

const optionHelp = `  --convergence B64   the convergence secret, base64 (required)
  --k K               shares needed (default 3)
  --n N               shares made, K <= N <= 256 (default 10)
  --segment-size S    maximum segment size in bytes (default 131072; Tahoe's own default is 1048576)`;

function readParams(values: Record<string, string | boolean | undefined>): {
  params: ChkParams;
  secret: Uint8Array;
} {
  const k = intOption(values.k, 'k', 1, 256, 3);
  const n = intOption(values.n, 'n', 1, 256, 10);
  if (k > n) throw new UsageError(`--k (${k}) must not exceed --n (${n})`);
  const maxSegmentSize = intOption(values['segment-size'], 'segment-size', 1, 2 ** 30, 131072);
  const b64 = values.convergence;
  if (typeof b64 !== 'string') throw new UsageError('--convergence is required (base64 of the secret)');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) {
    throw new UsageError('--convergence must be base64');
  }
  return { params: { k, n, happy: 1, maxSegmentSize }, secret: new Uint8Array(Buffer.from(b64, 'base64')) };
}

async function openInput(file: string): Promise<ClosableSource> {
  try {
    return await fileSource(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`input ${file} does not exist`);
    if (code === 'EISDIR') throw new UsageError(`input ${file} is a directory`);
    throw err;
  }
}

/** Encode FILE; every write goes to `sink` (if any). Returns the cap string. */
async function encodeFile(
  file: string,
  values: Record<string, string | boolean | undefined>,
  sink?: (shnum: number, offset: number, data: Uint8Array) => Promise<void>,
): Promise<string> {
  const { params, secret } = readParams(values);
  const source = await openInput(file);
  try {
    const codec = await loadCodec();
    const key = await convergentKey(source, params, secret, nodeCrypto);
    for await (const step of encodeChk(source, params, key, { backend: nodeCrypto, codec })) {
      if (sink) for (const w of step.writes) await sink(w.shnum, w.offset, w.data);
      if (step.kind === 'done') return formatCap(step.cap);
    }
    throw new Error('encoder ended without a cap');
  } finally {
    await source.close();
  }
}

export const chkCapCommand: Command = {
  name: 'chk-cap',
  summary: 'print the URI:CHK: (or URI:LIT:) cap Tahoe would give a file',
  usage: `usage: cairn debug chk-cap --convergence B64 [--k K] [--n N] [--segment-size S] FILE

Encodes FILE exactly as Tahoe-LAFS does (convergent key, AES-CTR, zfec, hash trees) and
prints its read cap. Files of 55 bytes or less get a URI:LIT: cap.
${optionHelp}`,
  async run(argv) {
    const { values, positionals } = parse(argv, options, 1);
    if (positionals.length !== 1) throw new UsageError('expected FILE');
    console.log(await encodeFile(positionals[0], values));
    return 0;
  },
};

export const chkSharesCommand: Command = {
  name: 'chk-shares',
  summary: 'write the N Tahoe share files of a file and print its cap',
  usage: `usage: cairn debug chk-shares --convergence B64 [--k K] [--n N] [--segment-size S] FILE OUTDIR

Encodes FILE as chk-cap does and writes share number i to OUTDIR/i (Tahoe's share layout,
the share data only, as a storage server keeps after its own container header). Prints the
cap. A file of 55 bytes or less has no shares (its cap holds the data).
${optionHelp}`,
  async run(argv) {
    const { values, positionals } = parse(argv, options, 2);
    if (positionals.length !== 2) throw new UsageError('expected FILE and OUTDIR');
    const [file, outDir] = positionals;
    readParams(values); // usage errors before anything is created
    await mkdir(outDir, { recursive: true });
    const handles = new Map<number, FileHandle>();
    try {
      const cap = await encodeFile(file, values, async (shnum, offset, data) => {
        let h = handles.get(shnum);
        if (!h) {
          h = await open(path.join(outDir, String(shnum)), 'w');
          handles.set(shnum, h);
        }
        await h.write(data, 0, data.length, offset);
      });
      console.log(cap);
    } finally {
      for (const h of handles.values()) await h.close();
    }
    return 0;
  },
};

export const chkCommands: Command[] = [chkCapCommand, chkSharesCommand];
