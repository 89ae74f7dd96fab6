/** `cairn check` as a process against a grid on 127.0.0.1: exit codes, text, JSON, repair. */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCapability, storageIndexOf } from '../../core/caps/index.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { pattern } from '../harness/bytes.ts';
import { cleanup, startTestGrid, type TestGrid, tempDir } from '../harness/grid.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
let grid: TestGrid;
let home: string;

beforeAll(async () => {
  grid = await startTestGrid({ servers: 6 });
  home = tempDir('cairn-home-');
}, 60_000);
afterAll(async () => {
  await grid.close();
  cleanup();
});

const cairn = (args: string[]) => run([...args, '--grid', grid.relay.url]);
const cairnNoGrid = (args: string[]) => run(args);

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

describe('cairn check', () => {
  it('says healthy (0), unhealthy (1) after shares are lost, repairs (0), and refuses a bad cap (2)', async () => {
    const file = path.join(tempDir('cairn-files-'), 'f.bin');
    await fs.writeFile(file, pattern(200_000, 8));
    const put = await cairn(['put', '--n', '6', '--happy', '5', file]);
    expect(put.code).toBe(0);
    const cap = put.stdout.trim();

    const ok = await cairn(['check', cap]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/summary: 6 of 6 shares on 6 server\(s\) — healthy/);

    const si = storageIndexOf(parseCapability(cap))!;
    const b = base32Encode(si);
    for (const s of grid.servers.slice(0, 2)) {
      const dir = path.join(s.dir, 'storage', 'shares', b.slice(0, 2), b);
      for (const f of await fs.readdir(dir)) await fs.rm(path.join(dir, f));
    }
    const hurt = await cairn(['check', '--json', cap]);
    expect(hurt.code).toBe(1);
    const json = JSON.parse(hurt.stdout);
    expect(json.healthy).toBe(false);
    expect(json.distinctGoodShares).toBe(4);
    expect(json.recoverable).toBe(true);

    const verifyCap = (await cairnNoGrid(['cap', '--verify', cap])).stdout.trim();
    const repaired = await cairn(['check', '--verify', '--repair', '--add-lease', verifyCap]);
    expect(repaired.stderr).toBe('');
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/repair: 2 share\(s\) written to 2 server\(s\)/);
    expect(repaired.stdout).toMatch(/after repair, summary: 6 of 6 shares on 6 server\(s\) — healthy/);
    expect(repaired.stdout).toMatch(/leases renewed on 4 server\(s\)/);

    const bad = await cairn(['check', 'URI:CHK:nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});
