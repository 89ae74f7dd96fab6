/**
 * Cores busy through a phase, thread by thread, for bench:web's --timeline: whether a phase
 * has the cores full or waits on something, which CPU totals alone do not say. Read from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds on a CPU; /proc's stat counts 10 ms ticks).
 * Sampling costs this process CPU of its own on the cores it watches (~100 small files a
 * sample), so a phase with a timeline runs a little slower: read its shape, not its MB/s.
 */
import { threadRunNs } from './proc.ts';

/** A process to watch, and what to call its threads ("renderer", "grid"). */
export interface Watched {
  readonly label: string;
  readonly pid: number;
}

interface Sample {
  /** Milliseconds (performance.now). */
  readonly t: number;
  /** Nanoseconds on a CPU so far, by "label/thread name#tid". */
  readonly ns: Map<string, number>;
}

function sample(watched: readonly Watched[]): Sample {
  const ns = new Map<string, number>();
  for (const { label, pid } of watched)
    for (const [thread, run] of threadRunNs(pid)) ns.set(`${label}/${thread}`, run);
  return { t: performance.now(), ns };
}

export interface Timeline {
  /** Stops sampling and returns the timeline (formatTimeline). */
  stop(): string;
}

/** Samples every `everyMs` until stop(). */
export function startTimeline(watched: readonly Watched[], everyMs = 20): Timeline {
  const samples = [sample(watched)];
  const timer = setInterval(() => samples.push(sample(watched)), everyMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(sample(watched));
      return formatTimeline(samples);
    },
  };
}

/**
 * One line per thread that ran at least `minMs` (busiest first), one character per
 * `bucketMs`: tenths of a core busy (0-9), and a last line for every thread watched,
 * listed or not (in tenths of a core too, base 36 past 9: "k" is two cores).
 */
export function formatTimeline(samples: readonly Sample[], bucketMs = 50, minMs = 20): string {
  if (samples.length < 2) return '';
  const first = samples[0];
  const span = samples[samples.length - 1].t - first.t;
  const buckets = Math.max(1, Math.ceil(span / bucketMs));
  const rows: { name: string; ms: number; busy: number[] }[] = [];
  // Every thread counts towards the last line, listed or not.
  const all = new Array<number>(buckets).fill(0);
  let allMs = 0;
  const names = new Set(samples.flatMap((s) => [...s.ns.keys()]));
  for (const name of names) {
    const busy = new Array<number>(buckets).fill(0);
    let ms = 0;
    for (let i = 1; i < samples.length; i++) {
      const before = samples[i - 1].ns.get(name);
      const after = samples[i].ns.get(name);
      // A thread born between two samples counts from the later one.
      if (before === undefined || after === undefined) continue;
      const d = (after - before) / 1e6;
      ms += d;
      const b = Math.min(buckets - 1, Math.floor((samples[i].t - first.t) / bucketMs));
      busy[b] += d;
      all[b] += d;
    }
    allMs += ms;
    if (ms >= minMs) rows.push({ name, ms, busy });
  }
  rows.sort((a, b) => b.ms - a.ms);
  const tenths = (ms: number, max: number) => Math.min(max, Math.round((10 * ms) / bucketMs));
  const line = (name: string, ms: number, cells: string) =>
    `  ${name.slice(0, 40).padEnd(40)} ${ms.toFixed(0).padStart(6)} ms |${cells}|`;
  return [
    `  ${span.toFixed(0)} ms in ${samples.length} samples, one character per ${bucketMs} ms: tenths of a core busy`,
    ...rows.map((r) => line(r.name, r.ms, r.busy.map((ms) => String(tenths(ms, 9))).join(''))),
    line('all threads', allMs, all.map((ms) => tenths(ms, 35).toString(36)).join('')),
  ].join('\n');
}
