/** Where the CLI keeps its own state and finds the built web bundle. */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The CLI's home: $CAIRN_HOME, else ~/.cairn. */
export function cairnHome(): string {
  return process.env.CAIRN_HOME ?? path.join(os.homedir(), '.cairn');
}

export const webBundleDir = path.join(repoRoot, 'dist', 'web');
