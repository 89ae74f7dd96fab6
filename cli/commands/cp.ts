/** `cairn cp [-r] SRC... DEST`: copy between local paths and grid paths, both ways (Tahoe's cp). */
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  describeCap,
  type DirectoryNode,
  type FileNode,
  type Grid,
  NoSuchChildError,
} from '../../core/client/index.ts';
import { DEFAULT_CHK_PARAMS } from '../../core/immutable/params.ts';
import { type GridPath, parseGridPath } from '../aliases.ts';
import { parse } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { resolveNode, resolveParent } from '../grid-paths.ts';
import {
  downloadFile,
  downloadTree,
  fileMetadata,
  safeLocalName,
  uploadFile,
  uploadTree,
} from '../tree-copy.ts';

const usage = `usage: cairn cp [-r] [--grid URL] SRC... DEST

Copies files between this computer and the grid, either way. A grid path is ALIAS:path (see
cairn create-alias) or a cap, optionally followed by /path; anything else is a local path.
  local file  → grid: uploaded (immutable, convergent) and linked at DEST, or inside DEST if
                DEST is a directory (always so with several SRC)
  grid file   → local: downloaded to DEST, or into DEST if it is a folder
  -r          copies folders and directories too, whole: a local folder becomes new
              directories on the grid; a grid directory becomes a local folder
  grid → grid links the same file (or, with -r, the same directory) at DEST
Files go several at a time, and each directory's entries are linked in one change.`;

type Endpoint = { grid: GridPath } | { local: string };

async function endpoint(arg: string): Promise<Endpoint> {
  const gp = await parseGridPath(arg);
  return gp ? { grid: gp } : { local: arg };
}

/** A grid node, or null when the path does not exist (yet). */
async function gridNodeOrNull(grid: Grid, gp: GridPath): Promise<FileNode | null> {
  try {
    return await resolveNode(grid, gp);
  } catch (err) {
    if (err instanceof NoSuchChildError) return null;
    throw err;
  }
}

const baseName = (e: Endpoint): string =>
  'local' in e ? path.basename(path.resolve(e.local)) : (e.grid.parts[e.grid.parts.length - 1] ?? '');

export const cpCommand: Command = {
  name: 'cp',
  summary: 'copy files and folders between this computer and the grid',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      grid: { type: 'string' },
      r: { type: 'boolean', short: 'r' },
    });
    if (positionals.length < 2) throw new UsageError('expected SRC... DEST');
    const sources = await Promise.all(positionals.slice(0, -1).map(endpoint));
    const dest = await endpoint(positionals[positionals.length - 1]);
    const recursive = values.r === true;
    const grid = await openGrid(values.grid, (l) => process.stderr.write(`cairn cp: ${l}\n`));
    const params = { ...DEFAULT_CHK_PARAMS };
    try {
      // Where DEST stands: an existing directory takes the sources inside it.
      let destDir: DirectoryNode | null = null;
      let destLocalIsDir = false;
      if ('grid' in dest) {
        const node = await gridNodeOrNull(grid, dest.grid);
        if (node?.kind === 'directory') destDir = node as DirectoryNode;
        else if (node && sources.length > 1)
          throw new UsageError('with several sources, DEST must be a directory');
      } else {
        destLocalIsDir = (await fs.stat(dest.local).catch(() => null))?.isDirectory() ?? false;
        if (!destLocalIsDir && sources.length > 1)
          throw new UsageError('with several sources, DEST must be a folder');
      }
      if (sources.length > 1 && 'grid' in dest && !destDir)
        throw new UsageError('with several sources, DEST must be an existing directory');

      for (const src of sources) {
        const name = baseName(src);
        if ('local' in src) {
          const st = await fs.stat(src.local);
          if (!('grid' in dest)) throw new UsageError('local to local copies are for cp(1), not cairn cp');
          if (st.isDirectory()) {
            if (!recursive) throw new UsageError(`${src.local} is a folder: add -r to copy it`);
            const target = await grid.createDirectory();
            await uploadTree(grid, src.local, target, { params });
            if (destDir) await destDir.set(name, target.cap);
            else {
              const p = await resolveParent(grid, dest.grid);
              await p.dir.set(p.name, target.cap);
            }
          } else {
            const cap = await uploadFile(grid, src.local, params);
            const metadata = fileMetadata(st);
            if (destDir) await destDir.set(name, cap, { metadata });
            else {
              const p = await resolveParent(grid, dest.grid);
              await p.dir.set(p.name, cap, { metadata });
            }
          }
          continue;
        }
        // From the grid.
        const node = await resolveNode(grid, src.grid);
        const isDir = node.kind === 'directory';
        if (isDir && !recursive)
          throw new UsageError(`${src.grid.label} names a directory: add -r to copy it`);
        if ('grid' in dest) {
          const cap = node.writeCap ?? node.readCap ?? node.cap;
          if (destDir) await destDir.set(name || 'copy', cap);
          else {
            const p = await resolveParent(grid, dest.grid);
            await p.dir.set(p.name, cap);
          }
          continue;
        }
        const target = destLocalIsDir
          ? path.join(dest.local, safeLocalName(name || describeCap(node.cap).kind))
          : dest.local;
        if (isDir) await downloadTree(grid, node as DirectoryNode, target);
        else await downloadFile(node, target);
      }
      return 0;
    } finally {
      grid.close();
    }
  },
};
