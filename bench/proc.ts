/** Figures of processes from /proc (Linux): CPU time and resident memory, for the benches. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const TICK = 100; // USER_HZ

/** utime + stime, seconds, from a /proc stat line (a process's or a thread's). */
function statCpu(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/** utime + stime of a process so far, seconds; undefined once it is gone. */
export function procCpu(pid: number): number | undefined {
  try {
    return statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * `read(tid)` for each of a process's threads, skipping those that end meanwhile (read
 * throws); none once the process is gone.
 */
function eachThread(pid: number, read: (tid: string) => void): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      read(tid);
    } catch {
      // the thread ended meanwhile
    }
  }
}

/**
 * CPU seconds so far of each of a process's threads, summed by thread name ("ThreadPoolForeg");
 * threads whose name `apart` holds are kept one by one, as "name#tid".
 */
export function threadCpu(pid: number, apart: ReadonlySet<string> = new Set()): Map<string, number> {
  const out = new Map<string, number>();
  eachThread(pid, (tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const name = apart.has(comm) ? `${comm}#${tid}` : comm;
    out.set(name, (out.get(name) ?? 0) + statCpu(stat));
  });
  return out;
}

/**
 * Nanoseconds each of a process's threads has run so far, as "name#tid", from schedstat
 * (exact, where stat counts 10 ms ticks); empty once the process is gone.
 */
export function threadRunNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  eachThread(pid, (tid) => {
    const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    out.set(`${name}#${tid}`, ns);
  });
  return out;
}

/** CPU seconds so far of all `pids` together (a process gone counts 0). */
export function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (procCpu(pid) ?? 0), 0);
}

/** Starts a process's peak RSS (VmHWM) again from its current RSS. */
export function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not ours to reset (or gone): the figure then covers the process's whole life
  }
}

function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident memory now, bytes (0 once the process is gone). */
export const residentBytes = (pid: number): number => statusBytes(pid, 'VmRSS');
/** Peak resident memory since start or resetPeak, bytes (0 once the process is gone). */
export const peakBytes = (pid: number): number => statusBytes(pid, 'VmHWM');
