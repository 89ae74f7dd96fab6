/**
 * Sorted, merged half-open byte ranges [start, end): what a server holds of a share being
 * uploaded (the `have` of an allocate result), and what a client still has to send. Pure.
 */
export type Range = [number, number];

/** Adds [start, end) to `ranges` (kept sorted and merged). Mutates and returns it. */
export function addRange(ranges: Range[], start: number, end: number): Range[] {
  if (end <= start) return ranges;
  let i = 0;
  while (i < ranges.length && ranges[i][1] < start) i++;
  let s = start;
  let e = end;
  let j = i;
  while (j < ranges.length && ranges[j][0] <= e) {
    s = Math.min(s, ranges[j][0]);
    e = Math.max(e, ranges[j][1]);
    j++;
  }
  ranges.splice(i, j - i, [s, e]);
  return ranges;
}

/** How many ranges `ranges` would hold after adding [start, end) (without changing it). */
export function countAfterAdd(ranges: readonly Range[], start: number, end: number): number {
  if (end <= start) return ranges.length;
  let merged = 0;
  for (const [s, e] of ranges) if (s <= end && e >= start) merged++;
  return ranges.length - merged + 1;
}

/** The parts of [start, end) already covered by `ranges`. */
export function overlaps(ranges: readonly Range[], start: number, end: number): Range[] {
  const out: Range[] = [];
  for (const [s, e] of ranges) {
    if (s >= end) break;
    const a = Math.max(s, start);
    const b = Math.min(e, end);
    if (a < b) out.push([a, b]);
  }
  return out;
}

/** The parts of [start, end) not covered by `ranges`, in order. */
export function missing(ranges: readonly Range[], start: number, end: number): Range[] {
  const out: Range[] = [];
  let at = start;
  for (const [s, e] of ranges) {
    if (e <= at) continue;
    if (s >= end) break;
    if (s > at) out.push([at, s]);
    at = Math.max(at, e);
    if (at >= end) break;
  }
  if (at < end) out.push([at, end]);
  return out;
}

/** Bytes covered by `ranges`. */
export function coveredBytes(ranges: readonly Range[]): number {
  let n = 0;
  for (const [s, e] of ranges) n += e - s;
  return n;
}

/** Whether `ranges` is sorted, merged (no two touch) and non-empty pieces within [0, limit]. */
export function isCanonical(ranges: readonly Range[], limit: number): boolean {
  let last = -1;
  for (const r of ranges) {
    if (!Array.isArray(r) || r.length !== 2) return false;
    const [s, e] = r;
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e)) return false;
    if (s <= last || s >= e || e > limit) return false;
    last = e;
  }
  return true;
}
