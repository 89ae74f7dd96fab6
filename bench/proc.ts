/** Figures of processes from /proc (Linux): CPU time and resident memory, for the benches. */
import { readFileSync, writeFileSync } from 'node:fs';

const TICK = 100; // USER_HZ

/** utime + stime of a process so far, seconds; undefined once it is gone. */
export function procCpu(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return undefined;
  }
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
