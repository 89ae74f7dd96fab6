/** `cairn invite` and `cairn join`: handing a grid (where to look, whom to trust) to another client. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  decodeInvitation,
  type Invitation,
  invitationLink,
  encodeInvitation,
} from '../../core/client/invite.ts';
import { type GridManagerId, parseGridManagerId } from '../../core/protocol/grid-manager.ts';
import { gridOrigin } from '../../core/protocol/grid.ts';
import { parse } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { joinedGrid, saveJoinedGrid } from '../grid-config.ts';
import { gridUrl } from '../grid-client.ts';
import { managerId } from '../grid-manager-store.ts';

const inviteUsage = `usage: cairn invite [--grid URL]... [--grid-manager ID|DIR]... [--origin URL]

Prints a link to the web app's Join page (<origin>/#/join/<token>) and a code for
\`cairn join\`: both set up a browser or a CLI with this grid's URLs and the grid managers
whose certified servers it is to use. Nothing in them is secret.
  --grid URL           a grid URL: the relay, or any storage server (repeat for several;
                       default: the grid this CLI uses)
  --grid-manager ID    a grid manager's public id (gm-v0-…), or the folder of one made by
                       \`cairn grid-manager create\`; repeat for several
  --origin URL         where the web app is served (default: the first grid URL, as a relay
                       serves it)`;

const joinUsage = `usage: cairn join CODE|LINK

Sets this CLI up for the grid an invitation names (\`cairn invite\` prints one): commands
without --grid use its URLs and only the servers its grid managers certify.`;

async function managerArg(value: string): Promise<GridManagerId> {
  if (value.startsWith('gm-')) return parseGridManagerId(value);
  if (existsSync(path.join(value, 'private', 'manager.key'))) return managerId(path.resolve(value));
  throw new UsageError(
    '--grid-manager is a public id (gm-v0-…) or a folder made by `cairn grid-manager create`',
  );
}

export const inviteCommand: Command = {
  name: 'invite',
  summary: 'print a link and a code that set up a browser or a CLI for this grid',
  usage: inviteUsage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        grid: { type: 'string', multiple: true },
        'grid-manager': { type: 'string', multiple: true },
        origin: { type: 'string' },
      },
      0,
    );
    const joined = await joinedGrid();
    let grid = values.grid ?? [];
    if (grid.length === 0) {
      const url = await gridUrl(undefined);
      if (url === null) throw new UsageError('no grid to invite to: pass --grid URL');
      grid = joined?.grid ?? [url];
    }
    const gridManagers =
      values['grid-manager'] === undefined
        ? (joined?.gridManagers ?? [])
        : await Promise.all(values['grid-manager'].map(managerArg));
    const inv: Invitation = { grid, gridManagers };
    const origin = values.origin ?? gridOrigin(grid[0]);
    console.log(`Link: ${invitationLink(origin, inv)}`);
    console.log(`Code: ${encodeInvitation(inv)}`);
    return 0;
  },
};

export const joinCommand: Command = {
  name: 'join',
  summary: 'set this CLI up for the grid an invitation names',
  usage: joinUsage,
  async run(argv) {
    const { positionals } = parse(argv, {}, 1);
    if (positionals.length !== 1) throw new UsageError('join needs the CODE or LINK `cairn invite` printed');
    const inv = decodeInvitation(positionals[0]);
    await saveJoinedGrid(inv);
    console.log(
      `Joined the grid at ${inv.grid.join(', ')}${
        inv.gridManagers.length > 0
          ? `; storing only on servers certified by ${inv.gridManagers.join(', ')}`
          : ''
      }`,
    );
    return 0;
  },
};
