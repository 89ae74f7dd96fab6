#!/usr/bin/env node
// Entry point for `npx cairn`. The CLI is TypeScript: it runs from a bundle that
// bundle.js builds on first use (and again after any source edit), so no build step stands
// between `npm install` and a working command, and each start is plain Node. Should the
// bundle fail to build, tsx loads the sources instead (slower start, same behaviour);
// CAIRN_NO_BUNDLE=1 asks for that path.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { pathToFileURL } from 'node:url';
import { nodeFlagsFor, runsWith } from './node-flags.js';

async function loadMain() {
  if (!process.env.CAIRN_NO_BUNDLE) {
    try {
      const { bundleEntry } = await import('./bundle.js');
      return (await import(pathToFileURL(await bundleEntry('cli', 'cli/main.ts')).href)).main;
    } catch (err) {
      process.stderr.write(`cairn: running through the TypeScript loader (${String(err).split('\n')[0]})\n`);
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('../main.ts')).main;
}

// Anything that escapes a command (an error in a callback, a rejected promise nobody
// awaited) is still one line and exit code 3, not a stack trace, unless CAIRN_DEBUG=1.
const lastResort = (err) => {
  process.stderr.write(`cairn: internal error: ${err?.message ?? String(err)} (CAIRN_DEBUG=1 shows where)\n`);
  if (process.env.CAIRN_DEBUG === '1' && err?.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(3);
};
process.on('uncaughtException', lastResort);
process.on('unhandledRejection', lastResort);

/**
 * Runs this command again in a child `node` with `flags` (see node-flags.js) and ends as the
 * child does. The child has its own process group, so a terminal's Ctrl-C reaches it once,
 * passed on from here, as every signal that stops a server is; it stops too when this
 * process is gone (killed, so unable to pass anything on): see followParent.
 */
function runAgainWith(flags) {
  const child = spawn(process.execPath, [...process.execArgv, ...flags, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
    env: { ...process.env, CAIRN_FOLLOW_PARENT: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => {
    child.once('error', lastResort);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (constants.signals[signal] ?? 0)));
  });
}

/** In a child of runAgainWith: the parent's end of the channel closing means it is gone. */
function followParent() {
  if (process.env.CAIRN_FOLLOW_PARENT !== '1' || !process.channel) return;
  delete process.env.CAIRN_FOLLOW_PARENT; // not for processes this one starts
  process.channel.unref(); // the channel alone does not keep this process running
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

const flags = nodeFlagsFor(process.argv[2]);
if (flags.length > 0 && !runsWith(flags)) {
  process.exitCode = await runAgainWith(flags);
} else {
  followParent();
  const main = await loadMain();
  process.exitCode = await main(process.argv.slice(2));
}
