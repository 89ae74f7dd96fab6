/**
 * One server per folder: DIR/server.lock holds the owner's pid. A second server on the
 * same folder would wipe the first one's uploads in progress and race it on every share.
 * A lock left by a dead process (crash, SIGKILL) is taken over.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '../core/errors.ts';

export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'server.lock');
  await fs.mkdir(dir, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => fs.rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new CairnError('DIR_IN_USE', `another server (pid ${owner}) is using ${dir}`);
    }
    await fs.rm(file, { force: true });
  }
  throw new CairnError('DIR_IN_USE', `could not lock ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
