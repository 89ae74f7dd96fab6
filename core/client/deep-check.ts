/**
 * Deep-check: every file and directory reachable from a directory, checked (and optionally
 * verified, repaired, lease-renewed) as the walk goes. Results are yielded one object at a
 * time and nothing about visited objects is kept but the storage indexes of directories
 * (to stop at cycles), so memory stays flat however large the tree (Tahoe's #590).
 */
import type { CheckResult } from '../check/results.ts';
import type { DirectoryNode } from './directory-node.ts';
import type { CheckOptions, FileNode } from './node.ts';

export interface DeepCheckItem {
  /** Names from the root to this object ([] for the root). */
  path: string[];
  kind: FileNode['kind'] | 'unknown';
  /** Null when the object could not be checked at all (e.g. an unknown cap kind). */
  result: CheckResult | null;
  /** Why it could not be checked or listed (one line; never a cap). */
  error?: string;
}

export interface DeepCheckSummary {
  objects: number;
  healthy: number;
  unhealthy: number;
  repaired: number;
  unrecoverable: number;
  errors: number;
}

export interface DeepCheckOptions extends CheckOptions {
  /** Objects checked at once (default 4). */
  parallel?: number;
  open(cap: string): FileNode;
}

/** Walks depth-first; a directory's children are checked (a few at once) before its subdirectories. */
export async function* deepCheck(root: DirectoryNode, opts: DeepCheckOptions): AsyncGenerator<DeepCheckItem> {
  const seenDirs = new Set<string>();
  // The stack holds caps and paths only: a directory's listing is dropped once walked.
  const stack: { cap: string; path: string[] }[] = [{ cap: root.cap, path: [] }];
  const parallel = Math.max(1, opts.parallel ?? 4);
  const checkOne = async (node: FileNode, path: string[]): Promise<DeepCheckItem> => {
    try {
      return { path, kind: node.kind, result: await node.check(opts) };
    } catch (err) {
      return { path, kind: node.kind, result: null, error: (err as Error).message };
    }
  };
  while (stack.length > 0) {
    const { cap, path } = stack.pop()!;
    const dir = opts.open(cap) as DirectoryNode;
    const key = dir.verifyCap ?? dir.cap;
    if (seenDirs.has(key)) continue;
    seenDirs.add(key);
    yield await checkOne(dir, path);
    let children: Awaited<ReturnType<DirectoryNode['list']>>;
    try {
      children = await dir.list();
    } catch (err) {
      yield { path, kind: 'directory', result: null, error: `cannot list it: ${(err as Error).message}` };
      continue;
    }
    const files = [...children.values()].filter((c) => c.kind !== 'directory');
    const dirs = [...children.values()].filter((c) => c.kind === 'directory');
    for (let i = 0; i < files.length; i += parallel) {
      const batch = files.slice(i, i + parallel).map((c) => {
        if (c.kind === 'unknown') {
          return Promise.resolve<DeepCheckItem>({
            path: [...path, c.name],
            kind: 'unknown',
            result: null,
            error: 'a cap kind this version does not know',
          });
        }
        return checkOne(opts.open(c.cap), [...path, c.name]);
      });
      for (const item of await Promise.all(batch)) yield item;
    }
    for (const d of dirs.reverse()) stack.push({ cap: d.cap, path: [...path, d.name] });
  }
}

/** Adds one item to a running summary. */
export function tally(s: DeepCheckSummary, item: DeepCheckItem): DeepCheckSummary {
  const r = item.result;
  const final = r?.repair?.after ?? r;
  return {
    objects: s.objects + 1,
    healthy: s.healthy + (final?.healthy ? 1 : 0),
    unhealthy: s.unhealthy + (final && !final.healthy ? 1 : 0),
    repaired: s.repaired + (r?.repair?.succeeded ? 1 : 0),
    unrecoverable: s.unrecoverable + (final && !final.recoverable ? 1 : 0),
    errors: s.errors + (item.error ? 1 : 0),
  };
}

export const emptySummary = (): DeepCheckSummary => ({
  objects: 0,
  healthy: 0,
  unhealthy: 0,
  repaired: 0,
  unrecoverable: 0,
  errors: 0,
});
