/**
 * The server folder lock: a live owner keeps it; a dead owner's, a zombie's (killed, not yet
 * reaped) and a reused pid's lock are taken over, so a restart after kill -9 is never refused.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockDir } from '../../server/dir-lock.ts';
import { waitFor } from '../harness/wait.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-lock-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

const startTime = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];

describe('server folder lock', () => {
  it('refuses a second owner while the first lives, and frees the folder on release', async () => {
    const dir = await tempDir();
    // A live process that is not us holds it (its real start time recorded).
    const child = spawn('sleep', ['30']);
    try {
      await fs.writeFile(path.join(dir, 'server.lock'), `${child.pid} ${startTime(child.pid!)}\n`);
      await expect(lockDir(dir)).rejects.toThrow(/another server \(pid \d+\) is using/);
    } finally {
      child.kill('SIGKILL');
    }
    await fs.rm(path.join(dir, 'server.lock'));
    const release = await lockDir(dir);
    expect(readFileSync(path.join(dir, 'server.lock'), 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+`));
    await release();
    await (await lockDir(dir))();
  });

  it('takes over the lock of a dead process', async () => {
    const dir = await tempDir();
    const child = spawn('true');
    const pid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    await fs.writeFile(path.join(dir, 'server.lock'), `${pid}\n`);
    await (await lockDir(dir))();
  });

  it('takes over a pid that now belongs to another process (start time differs)', async () => {
    const dir = await tempDir();
    const child = spawn('sleep', ['30']);
    try {
      await fs.writeFile(path.join(dir, 'server.lock'), `${child.pid} 1\n`);
      await (await lockDir(dir))();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over the lock of a zombie (killed, not yet reaped by its parent)', async () => {
    const dir = await tempDir();
    // The child is killed only once its parent has exec'd into `sleep 30`, which never reaps it:
    // a child that exits by itself may be reaped by bash before the exec (a loaded machine did).
    const parent = spawn('bash', ['-c', 'sleep 30 & echo $!; exec sleep 30']);
    try {
      const pid = Number(
        await new Promise<string>((resolve) => parent.stdout.once('data', (b) => resolve(String(b)))),
      );
      const comm = () => readFileSync(`/proc/${parent.pid}/comm`, 'utf8').trim();
      await waitFor(() => comm() === 'sleep', { what: 'bash to exec into sleep', intervalMs: 10 });
      expect(comm(), "the parent exec'd into sleep").toBe('sleep');
      process.kill(pid, 'SIGKILL');
      const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
      await waitFor(() => state() === 'Z', { what: 'the killed child to become a zombie', intervalMs: 10 });
      expect(state(), 'the child became a zombie').toBe('Z');
      expect(() => process.kill(pid, 0)).not.toThrow(); // a zombie still "exists" to kill(pid, 0)
      // The older lock format (a pid alone) is still read.
      await fs.writeFile(path.join(dir, 'server.lock'), `${pid}\n`);
      await (await lockDir(dir))();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
