/**
 * What a read-only holder of a directory sees (transitively read-only): each child's read-only
 * cap and metadata, no write cap, and no stored entry bytes (a writer's entries carry write caps,
 * encrypted under the directory's write key, which a reader does not have).
 */
import type { DirChild } from './pack.ts';

/** The children as a read-only holder of the same directory would unpack them. */
export function readOnlyChildren(children: Iterable<DirChild>): DirChild[] {
  return [...children].map(({ name, readCap, metadata }) => ({ name, writeCap: null, readCap, metadata }));
}
