/** `cairn deep-check ALIAS:path`: check everything reachable from a directory, streaming. */
import { type DirectoryNode, deepCheck, emptySummary, tally } from '../../core/client/index.ts';
import { parse } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { requireGridPath, resolveNode } from '../grid-paths.ts';

const usage = `usage: cairn deep-check [--verify] [--repair] [--add-lease] [--json] [--grid URL] ALIAS:path

Checks every file and directory reachable from ALIAS:path (as cairn check does each one),
walking the tree as it goes: memory stays flat however large the tree. A progress line shows
on a terminal; at the end, a summary (objects, healthy, unhealthy, repaired, unrecoverable).
  --verify      read and check every byte of every share
  --repair      rebuild what is missing or corrupt (mutable objects need their write caps)
  --add-lease   renew this client's lease on everything found
  --json        one JSON object per line per object (path, kind, storageIndex, healthy,
                recoverable, summary, repaired), then {"summary": {...}}
exit code: 0 everything healthy (after repairs), 1 not, 2 bad input.`;

export const deepCheckCommand: Command = {
  name: 'deep-check',
  summary: 'check (verify, repair, renew) everything under a directory',
  usage,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        grid: { type: 'string' },
        verify: { type: 'boolean' },
        repair: { type: 'boolean' },
        'add-lease': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      1,
    );
    if (positionals.length !== 1) throw new UsageError('expected ALIAS:path');
    const grid = await openGrid(values.grid, (l) => process.stderr.write(`cairn deep-check: ${l}\n`));
    const tty = process.stderr.isTTY === true;
    try {
      const root = await resolveNode(grid, await requireGridPath(positionals[0]));
      if (root.kind !== 'directory')
        throw new UsageError('deep-check starts at a directory (use cairn check for a file)');
      let summary = emptySummary();
      for await (const item of deepCheck(root as DirectoryNode, {
        verify: values.verify,
        repair: values.repair,
        addLease: values['add-lease'],
        open: (cap) => grid.open(cap),
      })) {
        summary = tally(summary, item);
        const r = item.result;
        const final = r?.repair?.after ?? r;
        const where = item.path.length ? item.path.join('/') : '<root>';
        if (values.json) {
          process.stdout.write(
            `${JSON.stringify({
              path: item.path,
              kind: item.kind,
              storageIndex: r?.storageIndex ?? null,
              healthy: final?.healthy ?? false,
              recoverable: final?.recoverable ?? false,
              summary: final?.summary ?? null,
              repaired: r?.repair?.succeeded ?? false,
              error: item.error ?? null,
            })}\n`,
          );
        } else if (item.error || (final && !final.healthy) || r?.repair) {
          if (tty) process.stderr.write('\r\x1b[K');
          process.stdout.write(
            `${where}: ${item.error ?? final?.summary}${r?.repair?.succeeded ? ' (repaired)' : ''}\n`,
          );
        }
        if (tty)
          process.stderr.write(`\rchecked ${summary.objects} objects, ${summary.unhealthy} unhealthy…`);
      }
      if (tty) process.stderr.write('\r\x1b[K');
      if (values.json) process.stdout.write(`${JSON.stringify({ summary })}\n`);
      else {
        process.stdout.write(
          `objects: ${summary.objects}, healthy: ${summary.healthy}, unhealthy: ${summary.unhealthy}, ` +
            `repaired: ${summary.repaired}, unrecoverable: ${summary.unrecoverable}` +
            (summary.errors ? `, could not be checked: ${summary.errors}` : '') +
            '\n',
        );
      }
      return summary.unhealthy === 0 && summary.errors === 0 ? 0 : 1;
    } finally {
      grid.close();
    }
  },
};
