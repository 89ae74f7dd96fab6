/** `cairn create-alias`, `add-alias`, `list-aliases`: names for directory caps, as Tahoe's. */
import { describeCap } from '../../core/client/index.ts';
import { addAlias, checkAliasName, readAliases } from '../aliases.ts';
import { parse } from '../args.ts';
import { capArgument } from '../cap-arg.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';

export const createAliasCommand: Command = {
  name: 'create-alias',
  summary: 'make a new directory on the grid and name it NAME',
  usage: `usage: cairn create-alias [--format sdmf|mdmf] [--grid URL] NAME

Makes a new, empty mutable directory on the grid and records its write cap as alias NAME in
the CLI's private aliases file, so NAME: can start grid paths (NAME:docs/notes.txt).`,
  async run(argv) {
    const { values, positionals } = parse(argv, { grid: { type: 'string' }, format: { type: 'string' } }, 1);
    if (positionals.length !== 1) throw new UsageError('expected NAME');
    const name = positionals[0];
    checkAliasName(name);
    if ((await readAliases()).has(name)) throw new UsageError(`alias '${name}' already exists`);
    if (values.format !== undefined && values.format !== 'sdmf' && values.format !== 'mdmf')
      throw new UsageError(`--format must be sdmf or mdmf, not '${values.format}'`);
    const grid = await openGrid(values.grid, (l) => process.stderr.write(`cairn create-alias: ${l}\n`));
    try {
      const dir = await grid.createDirectory({ format: values.format as 'sdmf' | 'mdmf' | undefined });
      await addAlias(name, dir.cap);
      process.stdout.write(`Alias '${name}' created\n`);
      return 0;
    } finally {
      grid.close();
    }
  },
};

export const addAliasCommand: Command = {
  name: 'add-alias',
  summary: 'name an existing directory cap NAME',
  usage: `usage: cairn add-alias NAME CAP

Records directory cap CAP (or '-' to read it from stdin) as alias NAME. A read-only cap makes
a read-only alias.`,
  async run(argv) {
    const { positionals } = parse(argv, {}, 2);
    if (positionals.length !== 2) throw new UsageError('expected NAME CAP');
    const [name, capArg] = positionals;
    checkAliasName(name);
    const cap = await capArgument(capArg);
    const info = describeCap(cap);
    if (info.kind !== 'directory') throw new UsageError('an alias names a directory; that cap is not one');
    await addAlias(name, info.cap);
    process.stdout.write(`Alias '${name}' added\n`);
    return 0;
  },
};

export const listAliasesCommand: Command = {
  name: 'list-aliases',
  summary: 'show the aliases and their caps',
  usage: `usage: cairn list-aliases [--readonly-uri] [--json]

Prints one 'NAME: CAP' line per alias (with --readonly-uri, the read-only cap of each), or a
JSON object {NAME: {"readwrite": CAP|null, "readonly": CAP}}.`,
  async run(argv) {
    const { values } = parse(argv, { 'readonly-uri': { type: 'boolean' }, json: { type: 'boolean' } }, 0);
    const aliases = await readAliases();
    const rows = [...aliases].map(([name, cap]) => {
      let ro = cap;
      let rw: string | null = null;
      try {
        const info = describeCap(cap);
        ro = info.readCap ?? cap;
        rw = info.writeCap;
      } catch {
        // A cap this version cannot parse is shown as stored.
      }
      return { name, rw, ro, shown: values['readonly-uri'] ? ro : cap };
    });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, { readwrite: r.rw, readonly: r.ro }])))}\n`,
      );
    } else {
      const width = Math.max(0, ...rows.map((r) => r.name.length));
      for (const r of rows) process.stdout.write(`${`${r.name}:`.padEnd(width + 1)} ${r.shown}\n`);
    }
    return 0;
  },
};
