/** The CLI runs from a bundle of its sources (cli/bin/bundle.js), or through tsx when asked. */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleEntry } from '../../cli/bin/bundle.js';
import { cleanup, tempDir } from '../harness/grid.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
afterAll(() => cleanup());

function cairn(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'cli/bin/cairn.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
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
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

describe('the CLI bundle', () => {
  it('is reused while the sources are unchanged', async () => {
    const a = await bundleEntry('cli', 'cli/main.ts');
    const built = statSync(a).mtimeMs;
    const b = await bundleEntry('cli', 'cli/main.ts');
    expect(b).toBe(a);
    expect(statSync(b).mtimeMs).toBe(built);
  });

  it('gives the same cap as the TypeScript sources (the wasm codec loads from the bundle)', async () => {
    const file = path.join(tempDir('cairn-bundle-'), 'data.bin');
    await fs.writeFile(file, Buffer.alloc(300_000, 7));
    const args = ['debug', 'chk-cap', '--convergence', 'YmVuY2g=', file];
    const bundled = await cairn(args, {});
    const loaded = await cairn(args, { CAIRN_NO_BUNDLE: '1' });
    expect(bundled.code).toBe(0);
    expect(loaded.code).toBe(0);
    expect(bundled.out).toMatch(/^URI:CHK:/);
    expect(bundled.out).toBe(loaded.out);
    expect(bundled.err).toBe('');
  });
});
