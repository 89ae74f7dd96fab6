#!/usr/bin/env node
// Entry point for `npx cairn`. The CLI is TypeScript: it runs from a bundle that
// bundle.js builds on first use (and again after any source edit), so no build step stands
// between `npm install` and a working command, and each start is plain Node. Should the
// bundle fail to build, tsx loads the sources instead (slower start, same behaviour);
// CAIRN_NO_BUNDLE=1 asks for that path.
import { pathToFileURL } from 'node:url';

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

const main = await loadMain();
process.exitCode = await main(process.argv.slice(2));
