/** `cairn mkdir`, `ls`, `ln`, `mv`, `rm`: directories on the grid, in Tahoe's shapes. */
import {
  type DirEntry,
  type DirectoryNode,
  describeCap,
  type FileNode,
  type Grid,
  NoSuchChildError,
} from '../../core/client/index.ts';
import { parse } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { requireGridPath, resolveNode, resolveParent } from '../grid-paths.ts';

async function withGrid<T>(
  flag: string | undefined,
  name: string,
  fn: (grid: Grid) => Promise<T>,
): Promise<T> {
  const grid = await openGrid(flag, (l) => process.stderr.write(`cairn ${name}: ${l}\n`));
  try {
    return await fn(grid);
  } finally {
    grid.close();
  }
}

export const mkdirCommand: Command = {
  name: 'mkdir',
  summary: 'make a directory at a grid path (or an unlinked one, printing its cap)',
  usage: `usage: cairn mkdir [--format sdmf|mdmf] [--grid URL] [ALIAS:path]

Makes a new, empty mutable directory and links it at ALIAS:path (whose parent must exist);
without a path, prints the new directory's write cap.`,
  async run(argv) {
    const { values, positionals } = parse(argv, { grid: { type: 'string' }, format: { type: 'string' } }, 1);
    if (values.format !== undefined && values.format !== 'sdmf' && values.format !== 'mdmf')
      throw new UsageError(`--format must be sdmf or mdmf, not '${values.format}'`);
    const format = values.format as 'sdmf' | 'mdmf' | undefined;
    return withGrid(values.grid, 'mkdir', async (grid) => {
      if (positionals.length === 0) {
        process.stdout.write(`${(await grid.createDirectory({ format })).cap}\n`);
        return 0;
      }
      const { dir, name } = await resolveParent(grid, await requireGridPath(positionals[0]));
      await dir.mkdir(name, { format });
      return 0;
    });
  },
};

/** Tahoe's JSON description of a child (as `tahoe ls --json` gives it). */
function childJson(e: DirEntry): [string, Record<string, unknown>] {
  const type = e.kind === 'directory' ? 'dirnode' : e.kind === 'unknown' ? 'unknown' : 'filenode';
  const info: Record<string, unknown> = { ro_uri: e.readCap, metadata: e.metadata };
  if (e.writeCap) info.rw_uri = e.writeCap;
  info.mutable = e.mutable;
  if (e.size !== null) info.size = e.size;
  return [type, info];
}

function nodeJson(node: FileNode, children?: Map<string, DirEntry>): [string, Record<string, unknown>] {
  const info: Record<string, unknown> = { ro_uri: node.readCap, verify_uri: node.verifyCap };
  if (node.writeCap) info.rw_uri = node.writeCap;
  if (node.kind === 'directory') {
    info.mutable = (node as DirectoryNode).mutable;
    info.children = Object.fromEntries([...(children ?? new Map())].map(([n, e]) => [n, childJson(e)]));
    return ['dirnode', info];
  }
  info.mutable = node.kind === 'mutable';
  return ['filenode', info];
}

function mode(e: DirEntry): string {
  if (e.kind === 'directory') return e.writeCap ? 'drwx' : 'dr-x';
  if (e.kind === 'mutable') return e.writeCap ? '-rw-' : '-r--';
  if (e.kind === 'unknown') return '?---';
  return '-r--';
}

function when(e: DirEntry): string {
  const tahoe = e.metadata.tahoe as { linkmotime?: number } | undefined;
  const t = typeof e.metadata.mtime === 'number' ? e.metadata.mtime : tahoe?.linkmotime;
  return typeof t === 'number' ? new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ') : '-';
}

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list a directory on the grid',
  usage: `usage: cairn ls [-l] [--uri] [--readonly-uri] [--json] [--grid URL] ALIAS:path

Lists the children of a directory (or names one file): one name per line.
  -l               mode (d directory, rw writable), size, modification time, name
  --uri            also each child's cap (its write cap where this directory gives one)
  --readonly-uri   also each child's read-only cap
  --json           Tahoe's JSON form: ["dirnode", {"rw_uri", "ro_uri", "verify_uri", "mutable",
                   "children": {NAME: ["filenode"|"dirnode", {"ro_uri", "rw_uri"?, "size"?,
                   "mutable"?, "metadata"}]}}] (a file: ["filenode", {...}])`,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        grid: { type: 'string' },
        l: { type: 'boolean', short: 'l' },
        uri: { type: 'boolean' },
        'readonly-uri': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      1,
    );
    if (positionals.length !== 1) throw new UsageError('expected ALIAS:path');
    return withGrid(values.grid, 'ls', async (grid) => {
      const gp = await requireGridPath(positionals[0]);
      const node = await resolveNode(grid, gp);
      if (node.kind !== 'directory') {
        if (values.json) process.stdout.write(`${JSON.stringify(nodeJson(node))}\n`);
        else process.stdout.write(`${gp.parts[gp.parts.length - 1] ?? gp.label}\n`);
        return 0;
      }
      const children = await (node as DirectoryNode).list();
      if (values.json) {
        process.stdout.write(`${JSON.stringify(nodeJson(node, children))}\n`);
        return 0;
      }
      for (const e of children.values()) {
        const cols: string[] = [];
        if (values.l) cols.push(mode(e), String(e.size ?? '-').padStart(10), when(e));
        cols.push(e.name);
        if (values.uri) cols.push(e.cap);
        if (values['readonly-uri']) cols.push(e.readCap ?? '-');
        process.stdout.write(`${cols.join(' ')}\n`);
      }
      return 0;
    });
  },
};

export const lnCommand: Command = {
  name: 'ln',
  summary: 'link a grid path (or a cap) at a new name',
  usage: `usage: cairn ln [--grid URL] FROM TO

Adds a link to FROM (a grid path or a cap) at grid path TO; FROM keeps its own link. If TO is
an existing directory, the link goes inside it under FROM's name.`,
  async run(argv) {
    const { values, positionals } = parse(argv, { grid: { type: 'string' } }, 2);
    if (positionals.length !== 2) throw new UsageError('expected FROM TO');
    return withGrid(values.grid, 'ln', async (grid) => {
      const [fromArg, toArg] = positionals;
      let cap: string;
      let name: string | undefined;
      if (fromArg.startsWith('URI:') && !fromArg.includes('/')) cap = describeCap(fromArg).cap;
      else {
        const from = await requireGridPath(fromArg, 'FROM as a grid path or a cap');
        const node = await resolveNode(grid, from);
        cap = node.writeCap ?? node.readCap ?? node.cap;
        name = from.parts[from.parts.length - 1];
      }
      const target = await linkTarget(grid, await requireGridPath(toArg), name);
      await target.dir.set(target.name, cap, { overwrite: false });
      return 0;
    });
  },
};

/** Where TO puts a child: inside TO if it is an existing directory (under `name`), else at TO. */
async function linkTarget(grid: Grid, to: Awaited<ReturnType<typeof requireGridPath>>, name?: string) {
  const node = await resolveNode(grid, to).catch((err) => {
    if (err instanceof NoSuchChildError) return null;
    throw err;
  });
  if (node && node.kind === 'directory' && name !== undefined) return { dir: node as DirectoryNode, name };
  return resolveParent(grid, to);
}

export const mvCommand: Command = {
  name: 'mv',
  summary: 'move or rename a grid path',
  usage: `usage: cairn mv [--grid URL] FROM TO

Moves grid path FROM to TO (a rename within one directory; across directories, linked at TO
first and then unlinked at FROM). If TO is an existing directory, FROM goes inside it.`,
  async run(argv) {
    const { values, positionals } = parse(argv, { grid: { type: 'string' } }, 2);
    if (positionals.length !== 2) throw new UsageError('expected FROM TO');
    return withGrid(values.grid, 'mv', async (grid) => {
      const fromPath = await requireGridPath(positionals[0]);
      const from = await resolveParent(grid, fromPath);
      await from.dir.get(from.name); // fails clearly before anything changes
      const to = await linkTarget(grid, await requireGridPath(positionals[1]), from.name);
      await from.dir.moveTo(from.name, to.dir, to.name);
      return 0;
    });
  },
};

export const rmCommand: Command = {
  name: 'rm',
  summary: 'unlink a grid path',
  usage: `usage: cairn rm [--grid URL] ALIAS:path

Removes the link at ALIAS:path from its directory. The file or directory itself stays on the
grid (other links and caps still reach it) until its leases lapse.`,
  async run(argv) {
    const { values, positionals } = parse(argv, { grid: { type: 'string' } }, 1);
    if (positionals.length !== 1) throw new UsageError('expected ALIAS:path');
    return withGrid(values.grid, 'rm', async (grid) => {
      const { dir, name } = await resolveParent(grid, await requireGridPath(positionals[0]));
      await dir.delete(name);
      return 0;
    });
  },
};
