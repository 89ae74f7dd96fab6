/** `cairn get CAP [OUT]`: download a file from the grid, verified, to OUT or stdout. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Grid } from '../../core/client/index.ts';
import { CancelledError } from '../../core/grid/errors.ts';
import { CairnError } from '../../core/errors.ts';
import { NotEnoughSharesError } from '../../core/immutable/errors.ts';
import { parse } from '../args.ts';
import { capArgument } from '../cap-arg.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { progressBar } from '../progress.ts';
import { writeAll } from '../tree-copy.ts';

const usage = `usage: cairn get CAP [OUT] [--grid URL]

Downloads the file a read cap names, checks every byte against the cap, and writes it to OUT
(or to stdout when OUT is absent). CAP may be '-' to read the cap from stdin, which keeps it
out of the process list. OUT appears only once the whole file is verified.
  --grid URL   the relay's URL, http://HOST:PORT (default: the grid \`cairn grid\` started last)`;

/** Writes to stdout, waiting when the pipe is full. */
function stdoutWrite(chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(chunk, (err) => {
      if (!err) resolve();
      else if ((err as NodeJS.ErrnoException).code === 'EPIPE') {
        reject(new CairnError('OUTPUT_CLOSED', 'the output was closed before the whole file was written'));
      } else reject(err);
    });
  });
}

export const getCommand: Command = {
  name: 'get',
  summary: 'download a file from the grid by its cap',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, { grid: { type: 'string' } }, 2);
    if (positionals.length < 1) throw new UsageError('expected CAP');
    const [capArg, out] = positionals;
    if (out !== undefined) await checkOutput(out);
    const warn = (line: string) => process.stderr.write(`cairn get: ${line}\n`);
    const grid: Grid = await openGrid(values.grid, warn);
    const node = grid.open(await capArgument(capArg));
    if (!node.readable) throw new UsageError('that is a verify cap: it can check a file but not read it');
    let tmp: string | undefined;
    let handle: fs.FileHandle | undefined;
    const cancel = new AbortController();
    const onSigint = () => cancel.abort();
    process.once('SIGINT', onSigint);
    // A closed pipe (`cairn get CAP | head`) shows up in the write callback; no crash here.
    const onStdoutError = () => {};
    process.stdout.on('error', onStdoutError);
    try {
      const size = await node.size();
      if (out !== undefined) {
        const dir = path.dirname(path.resolve(out));
        tmp = path.join(dir, `.${path.basename(out)}.${randomBytes(4).toString('hex')}.part`);
        handle = await fs.open(tmp, 'wx', 0o600);
      }
      const bar = progressBar('downloading', size);
      let done = 0;
      const chunks = node.read({
        onShareError: (e) => warn(`${e.message}; using another share`),
        signal: cancel.signal,
      });
      for await (const chunk of chunks) {
        if (handle) writeAll(handle.fd, chunk);
        else await stdoutWrite(chunk);
        done += chunk.length;
        bar.update(done);
      }
      bar.finish();
      if (handle && tmp && out !== undefined) {
        await handle.sync();
        await handle.close();
        handle = undefined;
        await fs.rename(tmp, out);
        tmp = undefined;
      }
      return 0;
    } catch (err) {
      if (err instanceof CancelledError) {
        process.stderr.write('\ncairn get: cancelled\n');
        return 130;
      }
      if (err instanceof NotEnoughSharesError) {
        // Say where we looked: a cap from another grid finds nothing here.
        const reachable = (await grid.connections.connected().catch(() => [])).length;
        throw new CairnError(
          err.code,
          `${err.message}, from the ${reachable} reachable server(s) of ${grid.url}`,
        );
      }
      throw err;
    } finally {
      process.off('SIGINT', onSigint);
      process.stdout.off('error', onStdoutError);
      grid.close();
      await handle?.close();
      if (tmp) await fs.rm(tmp, { force: true });
    }
  },
};

/** OUT must name a file in a folder that exists; checked before any network work. */
async function checkOutput(out: string): Promise<void> {
  const dir = path.dirname(path.resolve(out));
  const parent = await fs.stat(dir).catch(() => null);
  if (!parent) throw new UsageError(`cannot write ${out}: the folder ${dir} does not exist`);
  if (!parent.isDirectory()) throw new UsageError(`cannot write ${out}: ${dir} is not a folder`);
  const existing = await fs.stat(out).catch(() => null);
  if (existing?.isDirectory()) throw new UsageError(`${out} is a folder; give the path of a file to write`);
}
