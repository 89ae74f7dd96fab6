/** The CLI runs from a bundle of its sources (cli/bin/bundle.js), or through tsx when asked. */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleEntry } from '../../cli/bin/bundle.js';
import { SERVICE_NODE_FLAGS } from '../../cli/bin/node-flags.js';
import { cleanup, tempDir } from '../harness/grid.ts';
import { runCairn } from '../harness/cli.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
afterAll(() => cleanup());

function cairn(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  return runCairn(args, null, { env }).then((r) => ({ code: r.code, out: r.stdout, err: r.stderr }));
}

/** Every file of the build whose entry point is `entry` (the entry and its chunks). */
function bundleText(entry: string): string {
  const dir = path.dirname(entry);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

/** The chunks `file` imports statically, and theirs. */
function staticChunks(file: string, seen = new Set<string>()): string[] {
  for (const m of readFileSync(file, 'utf8').matchAll(
    /^(?:import|export)[^;]*?from\s*"(\.\/chunk-[^"]+)"/gms,
  )) {
    const chunk = path.join(path.dirname(file), m[1]);
    if (!seen.has(chunk)) {
      seen.add(chunk);
      staticChunks(chunk, seen);
    }
  }
  return [...seen];
}

describe('the CLI bundle', () => {
  it('starts `cairn grid` with bundled servers (the bundler finds the sources from inside the bundle)', async () => {
    const dir = tempDir('cairn-bundle-grid-');
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'cli/bin/cairn.js'), 'grid', '--servers', '1', '--port', '0', '--dir', dir],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`cairn grid did not start:\n${out}`)), 60_000);
        const check = () => {
          if (/Cairn is running/.test(out)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', check);
        child.once('exit', () => reject(new Error(`cairn grid exited:\n${out}`)));
      });
      expect(out).not.toMatch(/TypeScript loader/);
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
      const commands = kids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      expect(commands.some((c) => c.includes('.cache/cairn/server-') && c.includes('--relay'))).toBe(true);
      // Each with the node flags a server needs (cli/bin/node-flags.js).
      for (const c of commands.filter((c) => c.includes('--relay'))) {
        for (const flag of SERVICE_NODE_FLAGS) expect(c.split('\0')).toContain(flag);
      }
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
  });

  it('leaves the AWS SDK out of every start (loaded only when an S3 backend is made), ws as CommonJS, hono only to serve HTTP', async () => {
    for (const [name, entry] of [
      ['cli', 'cli/main.ts'],
      ['server', 'cli/server-main.ts'],
    ]) {
      const text = bundleText(await bundleEntry(name, entry));
      // esbuild hoists a package's static imports to the bundle's top, lazy import() or not.
      expect(text, name).not.toMatch(/^import [^;]*from "@aws-sdk\//m);
      expect(text, name).toContain('import("@aws-sdk/client-s3")');
      // ws through require (core/protocol/ws-package.ts): its ESM entry costs a lexing pass per file.
      expect(text, name).not.toMatch(/^import [^;]*from "ws"/m);
      // hono only where HTTP is served (server/http-kit.ts): a put or get never loads it.
      expect(text, name).not.toMatch(/^import [^;]*from "(hono|@hono\/)/m);
    }
  });

  it("keeps the storage server's and the relay's code out of what every command loads", async () => {
    const entry = await bundleEntry('cli', 'cli/main.ts');
    const loaded = [entry, ...staticChunks(entry)].map((f) => readFileSync(f, 'utf8')).join('\n');
    const all = bundleText(entry);
    for (const fn of ['function startStorageNode(', 'function startRelay(']) {
      expect(all).toContain(fn); // in the build, as chunks loaded by `cairn server`, `relay`, `grid`
      expect(loaded).not.toContain(fn);
    }
  });

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
