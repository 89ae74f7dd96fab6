/**
 * `cairn grid-manager`: admission to a grid, after Tahoe's grid manager. The manager's key
 * signs certificates for storage servers; servers announce them (`cairn server
 * --grid-manager-cert FILE`), and clients that trust the manager's public id store shares
 * only on certified servers.
 */
import path from 'node:path';
import { certificateToText } from '../../core/protocol/grid-manager.ts';
import { isServerId } from '../../core/protocol/identity.ts';
import { intOption, parse } from '../args.ts';
import { type Command, EXIT_USAGE, UsageError } from '../command.ts';
import {
  addStorage,
  createManager,
  defaultManagerDir,
  listStorage,
  managerId,
  removeStorage,
} from '../grid-manager-store.ts';

const usage = `usage: cairn grid-manager <subcommand> [--dir DIR] [options]

Keeps a grid manager's ed25519 key in DIR/private/manager.key (mode 0600; default DIR:
CAIRN_HOME/grid-manager) and signs certificates for the grid's storage servers.
  create                         make the key; prints the manager's public id (gm-v0-…),
                                 which clients configure (cairn invite puts it in the link)
  public-identity                print the public id again
  add-storage NAME SERVER_ID [--days N]
                                 certify a server (its id is in its "ready" line and at
                                 GET /v1/id) for N days (default 365); prints the certificate
                                 and keeps it in DIR/certs/NAME.cert. Give that file to the
                                 server: cairn server --grid-manager-cert FILE. Run again
                                 before it expires to renew.
  list                           the servers certified, with each certificate's expiry
  remove NAME                    forget a server. Certificates it already holds stay valid
                                 until they expire (keep --days short if that matters).`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DAY_MS = 24 * 3600 * 1000;

export const gridManagerCommand: Command = {
  name: 'grid-manager',
  summary: 'keep a grid manager key and certify storage servers (grid admission)',
  usage,
  hasSubcommands: true,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parse(
      rest,
      { dir: { type: 'string' }, days: { type: 'string' } },
      sub === 'add-storage' ? 2 : sub === 'remove' ? 1 : 0,
    );
    const dir = path.resolve(values.dir ?? defaultManagerDir());
    if (values.days !== undefined && sub !== 'add-storage')
      throw new UsageError('--days goes with add-storage');
    switch (sub) {
      case 'create': {
        const id = await createManager(dir);
        console.error(
          `Grid manager created in ${dir} (its key: ${path.join(dir, 'private', 'manager.key')}, keep it safe)`,
        );
        console.log(id);
        return 0;
      }
      case 'public-identity':
        console.log(await managerId(dir));
        return 0;
      case 'add-storage': {
        const [name, serverId] = positionals;
        if (!name || !serverId) throw new UsageError('add-storage needs NAME and SERVER_ID');
        if (!NAME.test(name))
          throw new UsageError('NAME is letters, digits, ".", "_" and "-" (at most 64), e.g. storage0');
        if (!isServerId(serverId))
          throw new UsageError('SERVER_ID is a server id, "v0-" and 52 base32 characters');
        const days = intOption(values.days, 'days', 1, 36_500, 365);
        const expires = Date.now() + days * DAY_MS;
        const { certificate, file } = await addStorage(dir, name, serverId, expires, certificateToText);
        console.error(
          `Certified ${name} until ${new Date(expires).toISOString()}; certificate kept in ${file}`,
        );
        process.stdout.write(certificateToText(certificate));
        return 0;
      }
      case 'list': {
        const servers = await listStorage(dir);
        if (servers.length === 0)
          console.error('no storage servers certified yet (cairn grid-manager add-storage)');
        for (const s of servers) {
          const last = s.certificates.at(-1);
          const state =
            last === undefined
              ? 'no certificate'
              : `${Date.parse(last) > Date.now() ? 'until' : 'EXPIRED'} ${last}`;
          console.log(`${s.name}\t${s.serverId}\t${state}`);
        }
        return 0;
      }
      case 'remove': {
        const [name] = positionals;
        if (!name) throw new UsageError('remove needs NAME');
        const s = await removeStorage(dir, name);
        const last = s.certificates.at(-1);
        console.error(
          `Removed ${name}.${last ? ` Its certificate stays valid until ${last}: clients trust it until then.` : ''}`,
        );
        return 0;
      }
      default:
        console.error(sub ? `cairn grid-manager: unknown subcommand '${sub}'\n${usage}` : usage);
        return EXIT_USAGE;
    }
  },
};
