/** `cairn put FILE [CAP]`: store a file (immutable or mutable) and print its cap, or replace a mutable file's contents. */
import fs from 'node:fs/promises';
import type { Grid } from '../../core/client/index.ts';
import { CairnError } from '../../core/errors.ts';
import { CancelledError, UploadUnhappinessError } from '../../core/grid/errors.ts';
import type { MutableFormat } from '../../core/caps/index.ts';
import { DEFAULT_CHK_PARAMS, type ChkParams, encodingProblems } from '../../core/immutable/params.ts';
import { MAX_MUTABLE_SHARES } from '../../core/mutable/prefix.ts';
import { type ClosableSource, fileSource } from '../../core/immutable/source-node.ts';
import { intOption, parse } from '../args.ts';
import { capArgument } from '../cap-arg.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { progressBar } from '../progress.ts';

const usage = `usage: cairn put FILE [CAP] [--grid URL] [--mutable [--format mdmf|sdmf]] [--k K] [--happy H] [--n N]
                [--segment-size S] [--random-key]

Encrypts and erasure-codes FILE, stores its shares on the grid's servers, and prints its cap.
Keep the cap: it is the only way to read the file. An immutable upload that is interrupted
(the command killed, the network or servers gone) resumes when the same command is run again:
the servers keep what they received for a day, and only the rest is sent (not with --random-key,
whose key is not kept). Servers lost part way are waited for and the upload tried again, up to 4 times.
  (default)           an immutable file: prints its read cap (URI:CHK:…, or URI:LIT:… for files
                      of 55 bytes or less, which live in the cap itself)
  --mutable           a mutable file: prints its write cap (URI:MDMF:… or URI:SSK:…); give it to
                      \`cairn put FILE CAP\` to change the contents, \`cairn cap --readonly\` to share it
  --format F          mdmf (default: segmented, range reads, in-place edits) or sdmf (one segment)
  FILE CAP            replaces the contents of the mutable file CAP (a write cap) with FILE
  --grid URL          the relay's URL, http://HOST:PORT (default: the grid \`cairn grid\` started last)
  --k K               shares needed to read the file (default ${DEFAULT_CHK_PARAMS.k})
  --happy H           distinct servers the shares must reach, K <= H <= N (default ${DEFAULT_CHK_PARAMS.happy}; immutable only)
  --n N               shares made, up to 256 (255 for mutable files; default ${DEFAULT_CHK_PARAMS.n})
  --segment-size S    maximum segment size in bytes (default ${DEFAULT_CHK_PARAMS.maxSegmentSize}; immutable only)
  --random-key        a random key instead of this client's convergent one (no deduplication)`;

const options = {
  grid: { type: 'string' },
  k: { type: 'string' },
  happy: { type: 'string' },
  n: { type: 'string' },
  'segment-size': { type: 'string' },
  'random-key': { type: 'boolean' },
  mutable: { type: 'boolean' },
  format: { type: 'string' },
} as const;

/** A whole number flag, checked only for being a number; ranges are the core rule's job. */
function countOption(value: string | undefined, name: string, fallback: number): number {
  return intOption(value, name, 0, 2 ** 31, fallback);
}

export const putCommand: Command = {
  name: 'put',
  summary: "upload a file (immutable, or --mutable) or replace a mutable file's contents",
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, options, 2);
    if (positionals.length < 1) throw new UsageError('expected FILE');
    const [file, capArg] = positionals;
    const replacing = capArg !== undefined;
    const mutable = values.mutable === true || replacing;
    if (values.format !== undefined && !['mdmf', 'sdmf'].includes(values.format))
      throw new UsageError(`--format must be mdmf or sdmf, not '${values.format}'`);
    if (values.format !== undefined && !values.mutable)
      throw new UsageError('--format applies to new mutable files: add --mutable');
    if (replacing && values.mutable)
      throw new UsageError('give either --mutable (a new file) or CAP (an existing one)');
    const k = countOption(values.k, 'k', DEFAULT_CHK_PARAMS.k);
    const n = countOption(values.n, 'n', DEFAULT_CHK_PARAMS.n);
    const happy = countOption(values.happy, 'happy', Math.min(n, Math.max(k, DEFAULT_CHK_PARAMS.happy)));
    // The one rule for share counts (core); the flag names are what a person typed.
    const problems = encodingProblems({ k, happy, n }, mutable ? MAX_MUTABLE_SHARES : 256);
    const problem = problems.k ?? problems.happy ?? problems.n;
    if (problem)
      throw new UsageError(
        `${problem.replace(/\b(k|happy|N)(?= \(| must)/g, (w) => `--${w.toLowerCase()}`)}`,
      );
    const maxSegmentSize = intOption(
      values['segment-size'],
      'segment-size',
      1,
      2 ** 26,
      DEFAULT_CHK_PARAMS.maxSegmentSize,
    );
    const params: ChkParams = { k, happy, n, maxSegmentSize };

    const source = await openInput(file);
    let grid: Grid | undefined;
    // Ctrl-C gives the servers their buckets back; a second Ctrl-C ends the process at once.
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    try {
      const warn = (line: string) => process.stderr.write(`cairn put: ${line}\n`);
      grid = await openGrid(values.grid, warn);
      const bar = progressBar('uploading', source.size);
      if (mutable) {
        // Mutable versions are built whole in memory (N/k times the file) before writing.
        const data = await source.read(0, source.size);
        const onProgress = (done: number, total: number) =>
          bar.update(total === 0 ? source.size : Math.floor((done / total) * source.size));
        if (replacing) {
          const node = grid.openMutable(await capArgument(capArg));
          await node.overwrite(data, { signal: cancel.signal, onProgress });
          bar.finish();
          process.stdout.write(`${node.cap}\n`);
        } else {
          const node = await grid.createMutable(data, {
            format: (values.format ?? 'mdmf') as MutableFormat,
            k,
            n,
            signal: cancel.signal,
            onProgress,
          });
          bar.finish();
          process.stdout.write(`${node.cap}\n`);
        }
        return 0;
      }
      const result = await grid
        .upload(source, {
          params,
          convergent: !values['random-key'],
          onProgress: (p) => bar.update(p.acked),
          signal: cancel.signal,
          onServerLost: (id, reason) =>
            warn(
              `server ${id.slice(0, 12)}… dropped out (${reason instanceof Error ? reason.message : 'failed'})`,
            ),
          onRetry: (r) =>
            warn(
              `too few servers left (${r.reason.message}); trying again in ${Math.round(r.delayMs / 1000)} s ` +
                `(try ${r.attempt} of ${r.attempts}), sending only what the servers lack`,
            ),
        })
        .catch((err) => {
          if (err instanceof UploadUnhappinessError && !values['random-key']) {
            throw new CairnError(
              err.code,
              `${err.message}. Once enough servers are up, run the same command again: ` +
                'what the servers received is kept for a day and not sent again',
              { cause: err },
            );
          }
          throw err;
        });
      bar.finish();
      if (process.env.CAIRN_DEBUG === '1') {
        warn(`sent ${result.sentBytes} bytes of shares; ${result.skippedBytes} were on the servers already`);
      } else if (result.skippedBytes > 0) {
        warn(
          `resumed an interrupted upload: ${mib(result.skippedBytes)} of shares were on the servers already, ` +
            `${mib(result.sentBytes)} sent`,
        );
      }
      process.stdout.write(`${result.node.cap}\n`);
      return 0;
    } catch (err) {
      if (err instanceof CancelledError) {
        process.stderr.write(
          `\ncairn put: cancelled; ${mutable ? 'the file may hold the old or the new contents' : 'nothing was stored'}\n`,
        );
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

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

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
