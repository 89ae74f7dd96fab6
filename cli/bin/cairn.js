#!/usr/bin/env node
// Entry point for `npx cairn`: the CLI is TypeScript, loaded through tsx so that no
// build step stands between `npm install` and a working command.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../main.ts');
process.exitCode = await main(process.argv.slice(2));
