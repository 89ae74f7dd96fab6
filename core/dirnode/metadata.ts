/**
 * The metadata Tahoe keeps on a link (§5.1), as dirnode.py's update_metadata does it, but pure:
 * the old record is not changed, a new one is returned. Key order follows Python's dict
 * semantics (a replaced key keeps its place, a new key goes last), since the order is in the
 * packed bytes.
 */
import type { JsonValue, Metadata } from './json.ts';

function isObject(v: JsonValue | undefined): v is Metadata {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{...m, [key]: value}` that also works for a key named `__proto__`. */
function withKey(m: Metadata, key: string, value: JsonValue): Metadata {
  const out = Object.fromEntries(Object.entries(m)) as Metadata;
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * The metadata of a link after it is (re)made at `now` (seconds since the epoch, a float as
 * Python's time.time()):
 * - `userMetadata` given: it replaces the old metadata, except that its `tahoe` key is ignored
 *   and the old `tahoe` record kept; omitted or null: the old metadata stays.
 * - `tahoe.linkcrtime` is kept if present, else taken from a legacy top-level `ctime` of the
 *   old metadata (Tahoe < 1.4), else set to `now`; `tahoe.linkmotime` is set to `now`.
 * `old` is null for a new link.
 */
export function updateMetadata(old: Metadata | null, now: number, userMetadata?: Metadata | null): Metadata {
  const previous = old ?? {};
  const oldCtime = Object.hasOwn(previous, 'ctime') ? previous.ctime : undefined;
  let metadata: Metadata = previous;
  if (userMetadata !== undefined && userMetadata !== null) {
    metadata = Object.fromEntries(Object.entries(userMetadata).filter(([k]) => k !== 'tahoe')) as Metadata;
    if (Object.hasOwn(previous, 'tahoe')) metadata = withKey(metadata, 'tahoe', previous.tahoe);
  }
  // A `tahoe` value that is not an object (never written by Tahoe) is replaced by a fresh one.
  let sys: Metadata = isObject(metadata.tahoe) && Object.hasOwn(metadata, 'tahoe') ? metadata.tahoe : {};
  if (!Object.hasOwn(sys, 'linkcrtime'))
    sys = withKey(sys, 'linkcrtime', oldCtime !== undefined ? oldCtime : now);
  sys = withKey(sys, 'linkmotime', now);
  return withKey(metadata, 'tahoe', sys);
}
