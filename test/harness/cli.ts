/**
 * Runs the `cairn` CLI as a user would: a child process of cli/bin/cairn.js with its own
 * home (CAIRN_HOME). cli-in-process.ts runs it inside a vitest worker instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as bytes (what `cairn get` writes is not always text). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface CliOptions {
  /** Variables added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is then closed (default: no stdin). */
  stdin?: string | Uint8Array;
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves when it has exited, with everything it printed. */
  done: Promise<CliRun>;
}

/** Starts `cairn ARGS` with CAIRN_HOME=home (none: the environment's); see runCairn. */
export function startCairn(args: string[], home: string | null, opts: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [path.join(repoRoot, 'cli/bin/cairn.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...(home === null ? {} : { CAIRN_HOME: home }), ...opts.env },
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  const done = new Promise<CliRun>((resolve) =>
    child.once('close', (code, signal) => {
      const bytes = Buffer.concat(out);
      resolve({ code, signal, stdout: bytes.toString(), stdoutBytes: bytes, stderr: err });
    }),
  );
  return { child, done };
}

/** `cairn ARGS` with CAIRN_HOME=home; resolves when it exits, with everything it printed. */
export function runCairn(args: string[], home: string | null, opts: CliOptions = {}): Promise<CliRun> {
  return startCairn(args, home, opts).done;
}
