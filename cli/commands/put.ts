/** `cairn put FILE`: upload a file to the grid and print its read cap. */
import fs from 'node:fs/promises';
import type { Grid } from '../../core/client/index.ts';
import { CancelledError } from '../../core/grid/errors.ts';
import { DEFAULT_CHK_PARAMS, type ChkParams } from '../../core/immutable/params.ts';
import { type ClosableSource, fileSource } from '../../core/immutable/source-node.ts';
import { intOption, parse } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { progressBar } from '../progress.ts';

const usage = `usage: cairn put FILE [--grid URL] [--k K] [--happy H] [--n N] [--segment-size S] [--random-key]

Encrypts and erasure-codes FILE, stores its shares on the grid's servers, and prints the
read cap (URI:CHK:… or, for files of 55 bytes or less, URI:LIT:…). Keep the cap: it is the
only way to read the file.
  --grid URL          the relay's URL, http://HOST:PORT (default: the grid \`cairn grid\` started last)
  --k K               shares needed to read the file (default ${DEFAULT_CHK_PARAMS.k})
  --happy H           distinct servers the shares must reach, K <= H <= N (default ${DEFAULT_CHK_PARAMS.happy})
  --n N               shares made, up to 256 (default ${DEFAULT_CHK_PARAMS.n})
  --segment-size S    maximum segment size in bytes (default ${DEFAULT_CHK_PARAMS.maxSegmentSize})
  --random-key        a random key instead of this client's convergent one (no deduplication)`;

const options = {
  grid: { type: 'string' },
  k: { type: 'string' },
  happy: { type: 'string' },
  n: { type: 'string' },
  'segment-size': { type: 'string' },
  'random-key': { type: 'boolean' },
} as const;

export const putCommand: Command = {
  name: 'put',
  summary: 'upload a file to the grid and print its cap',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, options, 1);
    if (positionals.length !== 1) throw new UsageError('expected FILE');
    const k = intOption(values.k, 'k', 1, 256, DEFAULT_CHK_PARAMS.k);
    const n = intOption(values.n, 'n', 1, 256, DEFAULT_CHK_PARAMS.n);
    const happy = intOption(
      values.happy,
      'happy',
      1,
      256,
      Math.min(n, Math.max(k, DEFAULT_CHK_PARAMS.happy)),
    );
    if (k > n) throw new UsageError(`--k (${k}) must not exceed --n (${n})`);
    if (happy < k || happy > n)
      throw new UsageError(`--happy (${happy}) must be between --k (${k}) and --n (${n})`);
    const maxSegmentSize = intOption(
      values['segment-size'],
      'segment-size',
      1,
      2 ** 26,
      DEFAULT_CHK_PARAMS.maxSegmentSize,
    );
    const params: ChkParams = { k, happy, n, maxSegmentSize };

    const source = await openInput(positionals[0]);
    let grid: Grid | undefined;
    // Ctrl-C gives the servers their buckets back; a second Ctrl-C ends the process at once.
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    try {
      const warn = (line: string) => process.stderr.write(`cairn put: ${line}\n`);
      grid = await openGrid(values.grid, warn);
      const bar = progressBar('uploading', source.size);
      const result = await grid.upload(source, {
        params,
        convergent: !values['random-key'],
        onProgress: (p) => bar.update(p.acked),
        signal: cancel.signal,
        onServerLost: (id, reason) =>
          warn(
            `server ${id.slice(0, 12)}… dropped out (${reason instanceof Error ? reason.message : 'failed'})`,
          ),
      });
      bar.finish();
      process.stdout.write(`${result.node.cap}\n`);
      return 0;
    } catch (err) {
      if (err instanceof CancelledError) {
        process.stderr.write('\ncairn put: cancelled; nothing was stored\n');
        return 130;
      }
      throw err;
    } finally {
      process.off('SIGINT', onSigint);
      grid?.close();
      await source.close();
    }
  },
};

async function openInput(file: string): Promise<ClosableSource> {
  const stat = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new UsageError(`${file} does not exist`);
    if (err.code === 'EACCES') throw new UsageError(`${file} cannot be read (permission denied)`);
    throw err;
  });
  if (stat.isDirectory()) throw new UsageError(`${file} is a folder; cairn put stores one file`);
  if (!stat.isFile()) throw new UsageError(`${file} is not a regular file`);
  try {
    return await fileSource(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES')
      throw new UsageError(`${file} cannot be read (permission denied)`);
    throw err;
  }
}
