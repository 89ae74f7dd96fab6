/** Runs the `cairn` CLI as a user would (a child process of cli/bin/cairn.js) with its own home. */
import { spawn } from 'node:child_process';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `cairn ARGS` with CAIRN_HOME=home; resolves when it exits, with everything it printed. */
export function runCairn(args: string[], home: string): Promise<CliRun> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'cli/bin/cairn.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, CAIRN_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: out, stderr: err })));
}
