/**
 * One server per folder: DIR/server.lock names its owner. A second server on the same
 * folder would wipe the first one's uploads in progress and race it on every share.
 * A lock left by a process that is gone (crash, SIGKILL) is taken over. "Gone" includes a
 * killed process its parent has not reaped yet (a zombie still answers kill(pid, 0)) and a
 * new process that reuses the pid (its start time differs from the one recorded), so a
 * restart right after `kill -9` is never refused.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '../core/errors.ts';

interface Owner {
  pid: number;
  /** The process's start time in clock ticks since boot (Linux /proc), or null elsewhere. */
  started: string | null;
}

/** Field 22 of /proc/PID/stat, and whether the process is a zombie; null where there is no /proc. */
function procStat(pid: number): { started: string; zombie: boolean } | null | 'gone' {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') {
      try {
        readFileSync('/proc/self/stat');
        return 'gone';
      } catch {
        return null;
      }
    }
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after it.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { zombie: rest[0] === 'Z' || rest[0] === 'X', started: rest[19] ?? '' };
}

function selfOwner(): Owner {
  const st = procStat(process.pid);
  return { pid: process.pid, started: st && st !== 'gone' ? st.started : null };
}

function parseOwner(text: string): Owner | null {
  const [pid, started] = text.trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return null;
  return { pid: n, started: started ?? null };
}

export function isOwnerAlive(owner: Owner): boolean {
  const st = procStat(owner.pid);
  if (st === 'gone') return false;
  if (st !== null) {
    if (st.zombie) return false;
    if (owner.started !== null && owner.started !== st.started) return false;
    return true;
  }
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'server.lock');
  await fs.mkdir(dir, { recursive: true });
  const me = selfOwner();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, `${me.pid} ${me.started ?? ''}\n`, { flag: 'wx', mode: 0o600 });
      return () => fs.rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = parseOwner(await fs.readFile(file, 'utf8').catch(() => ''));
    if (owner && owner.pid !== process.pid && isOwnerAlive(owner)) {
      throw new CairnError(
        'DIR_IN_USE',
        `another server (pid ${owner.pid}) is using ${dir}; stop it, or give this one another --dir`,
      );
    }
    await fs.rm(file, { force: true });
  }
  throw new CairnError('DIR_IN_USE', `could not lock ${dir}`);
}
