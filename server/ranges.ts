/** Sorted, merged half-open byte ranges [start, end): what a bucket writer has received. */
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

/** The parts of [start, end) already covered by `ranges`. */
export function overlaps(ranges: Range[], start: number, end: number): Range[] {
  const out: Range[] = [];
  for (const [s, e] of ranges) {
    if (s >= end) break;
    const a = Math.max(s, start);
    const b = Math.min(e, end);
    if (a < b) out.push([a, b]);
  }
  return out;
}
