/** CPU time of processes from /proc (Linux), for the benches' per-process accounting. */
import { readFileSync } from 'node:fs';

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
