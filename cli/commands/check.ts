/** `cairn check CAP`: where a file's shares are and whether they suffice; verify, repair, renew leases. */
import type { CheckResult } from '../../core/check/results.ts';
import { parse } from '../args.ts';
import { capArgument } from '../cap-arg.ts';
import { type Command, UsageError } from '../command.ts';
import { parseGridPath } from '../aliases.ts';
import { openGrid } from '../grid-client.ts';
import { resolveNode } from '../grid-paths.ts';
import { progressBar } from '../progress.ts';

const usage = `usage: cairn check [--verify] [--repair] [--add-lease] [--json] [--grid URL] CAP|ALIAS:path

Asks every server of the grid which shares of the file it holds (nothing is downloaded) and
says whether k of them can rebuild it (recoverable) and whether all N are there (healthy).
CAP may be a read, write or verify cap, or '-' to read it from stdin.
  --verify      also read and check every byte of every share; corrupt shares are named and
                reported to their servers
  --repair      if the file is not healthy, rebuild its missing or corrupt shares on servers
                that hold none (immutable files: any cap; mutable files: the write cap)
  --add-lease   renew this client's lease on every share found (servers that collect garbage
                keep what has a live lease)
  --json        one JSON object instead of text
exit code: 0 healthy (after a repair, if one was made), 1 not healthy, 2 bad input.`;

const options = {
  grid: { type: 'string' },
  verify: { type: 'boolean' },
  repair: { type: 'boolean' },
  'add-lease': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function describe(r: CheckResult): string[] {
  const lines = [`summary: ${r.summary}`];
  if (r.storageIndex) lines.push(`storage index: ${r.storageIndex}`);
  if (r.kind !== 'literal') {
    lines.push(
      `shares: ${r.distinctGoodShares} good of ${r.total} (k=${r.needed}), ${r.sharesFound} found, on ${r.serversWithShares} server(s); happiness ${r.happiness}`,
    );
    lines.push(`servers: ${r.serversAsked} asked, ${r.serversNotAnswering} did not answer`);
  }
  if (r.versions && r.versions.length > 0) {
    lines.push(
      `versions: ${r.versions.map((v) => `seqnum ${v.seqnum} (${v.distinctShares} shares${v.recoverable ? '' : ', not recoverable'})`).join('; ')}`,
    );
    if (r.uncoordinated)
      lines.push('warning: two writers wrote different versions at the same sequence number');
  }
  for (const c of r.corrupt)
    lines.push(`corrupt: share ${c.shnum} on ${c.server.slice(0, 12)}…: ${c.reason}`);
  if (r.leasesRenewed !== undefined) lines.push(`leases renewed on ${r.leasesRenewed} server(s)`);
  return lines;
}

export const checkCommand: Command = {
  name: 'check',
  summary: "check a file's shares (--verify every byte, --repair, --add-lease)",
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, options, 1);
    if (positionals.length !== 1) throw new UsageError('expected CAP');
    const warn = (line: string) => process.stderr.write(`cairn check: ${line}\n`);
    const grid = await openGrid(values.grid, warn);
    try {
      // A grid path (ALIAS:path) or a cap.
      const arg = positionals[0] === '-' ? await capArgument('-') : positionals[0];
      const gp = await parseGridPath(arg);
      const node =
        gp && (gp.parts.length > 0 || !arg.startsWith('URI:')) ? await resolveNode(grid, gp) : grid.open(arg);
      let bar: ReturnType<typeof progressBar> | undefined;
      const result = await node.check({
        verify: values.verify,
        repair: values.repair,
        addLease: values['add-lease'],
        onProgress: (done, total) => {
          bar ??= progressBar('verifying', total);
          bar.update(done);
        },
      });
      bar?.finish();
      const final = result.repair?.after ?? result;
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        const lines = describe(result);
        if (result.repair) {
          const r = result.repair;
          if (!r.attempted) lines.push(`repair: not attempted: ${r.error}`);
          else if (r.error) lines.push(`repair: failed: ${r.error}`);
          else {
            const shares = r.written.reduce((a, w) => a + w.shares.length, 0);
            lines.push(`repair: ${shares} share(s) written to ${r.written.length} server(s)`);
            if (r.after) lines.push(...describe(r.after).map((l) => `after repair, ${l}`));
          }
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      return final.healthy ? 0 : 1;
    } finally {
      grid.close();
    }
  },
};
