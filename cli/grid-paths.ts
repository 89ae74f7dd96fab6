/** Grid paths (`ALIAS:a/b`, `URI:DIR2…/a/b`) resolved to nodes, for the directory commands. */
import { type DirectoryNode, type FileNode, type Grid, NotADirectoryError } from '../core/client/index.ts';
import { type GridPath, parseGridPath } from './aliases.ts';
import { UsageError } from './command.ts';

/** `arg` as a grid path, or a usage error saying what is expected. */
export async function requireGridPath(arg: string, what = 'a grid path'): Promise<GridPath> {
  const gp = await parseGridPath(arg);
  if (!gp) throw new UsageError(`expected ${what} (ALIAS:path or a directory cap), not a local path`);
  return gp;
}

/** The node a grid path names. */
export async function resolveNode(grid: Grid, gp: GridPath): Promise<FileNode> {
  const root = grid.open(gp.rootCap);
  if (gp.parts.length === 0) return root;
  if (root.kind !== 'directory') throw new NotADirectoryError(gp.label);
  return (await (root as DirectoryNode).resolve(gp.parts)).node;
}

/** The directory holding the last component, and that component's name. */
export async function resolveParent(grid: Grid, gp: GridPath): Promise<{ dir: DirectoryNode; name: string }> {
  if (gp.parts.length === 0)
    throw new UsageError(`${gp.label} is the directory itself: name a child inside it`);
  const root = grid.openDirectory(gp.rootCap);
  const parentParts = gp.parts.slice(0, -1);
  const parent = parentParts.length === 0 ? root : (await root.resolve(parentParts)).node;
  if (parent.kind !== 'directory') throw new NotADirectoryError(parentParts.join('/'));
  return { dir: parent as DirectoryNode, name: gp.parts[gp.parts.length - 1] };
}
