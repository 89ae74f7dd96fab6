/**
 * `cairn grid` as a person runs it, with its storage servers stopped one by one with SIGTERM
 * (as `kill PID` does): each server process must leave at once, not linger for as long as
 * the grid runs. The grid keeps serving with the servers still up and stops cleanly itself.
 * Real processes, bounded waits.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { cleanup, tempDir } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import { processAlive } from '../harness/process.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
/** A stopped server closes its sockets and files in well under a second; 5 s is generous. */
const PROMPT_MS = 5_000;

let grid: ChildProcess | undefined;
afterEach(async () => {
  if (grid && grid.exitCode === null && grid.signalCode === null) {
    grid.kill('SIGKILL');
    await new Promise((r) => grid?.once('exit', r));
  }
  grid = undefined;
  cleanup();
});

/** The grid's storage server processes (its other children, such as esbuild's service, left out). */
const serversOf = (pid: number): number[] =>
  execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => / --nickname server-\d+/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));

describe('cairn grid', () => {
  it('servers stopped one by one with SIGTERM exit promptly; the grid goes on, then stops cleanly', async () => {
    const dir = tempDir('cairn-grid-stop-');
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'cli/bin/cairn.js'), 'grid', '--servers', '3', '--port', '0', '--dir', dir],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAIRN_HOME: dir } },
    );
    grid = child;
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const url = (
      await waitFor(() => /open (http:\/\/\S+)\//.exec(out), {
        what: 'cairn grid to print its URL',
        timeoutMs: 90_000,
        detail: () => out,
      })
    )[1];
    const servers = serversOf(child.pid!);
    expect(servers).toHaveLength(3);

    for (const [i, pid] of servers.entries()) {
      const t0 = Date.now();
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !processAlive(pid), {
        what: `storage server ${i + 1} (pid ${pid}) to exit after SIGTERM`,
        timeoutMs: PROMPT_MS,
        detail: () => `${Date.now() - t0} ms after the signal it still runs`,
      });
      // The relay no longer lists it; the grid itself keeps running.
      await waitFor(async () => (await fetchGridServers(url)).length === servers.length - i - 1, {
        what: `the relay to list ${servers.length - i - 1} servers`,
        detail: async () => `it lists ${(await fetchGridServers(url)).length}`,
      });
      expect(child.exitCode).toBeNull();
    }
    expect(out).toMatch(/server-00 exited/);

    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), PROMPT_MS * 2)),
    ]);
    expect(code).toBe(0);
  }, 180_000);
});
