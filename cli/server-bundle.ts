/**
 * cli/server-main.ts as one plain-JavaScript file (cli/bin/bundle.js), so `cairn grid` runs its
 * N servers on bare Node: about a third less memory and start-up CPU per server than
 * through the TypeScript loader.
 */
import { bundleEntry } from './bin/bundle.js';

/** Returns the path of the bundled server entry point. */
export function bundleServer(): Promise<string> {
  return bundleEntry('server', 'cli/server-main.ts');
}
