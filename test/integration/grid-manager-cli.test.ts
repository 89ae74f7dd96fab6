/**
 * Grid admission with real processes (issue #14 point 4): `cairn grid-manager` certifies
 * three of four servers, the servers announce their certificates, a client that joined
 * through `cairn invite` / `cairn join` stores shares only on the certified ones: the
 * uncertified server is never sent a share.
 */
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, type SpawnedServer, spawnRelay, spawnServer, tempDir } from '../harness/grid.ts';
import { runCairn } from '../harness/cli.ts';
import { waitFor } from '../harness/wait.ts';

const TIMEOUT = 180_000;

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  cleanup();
});

async function ok(args: string[], home: string): Promise<string> {
  const r = await runCairn(args, home);
  expect(r.code, `cairn ${args[0]}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function sharesIn(dir: string): Promise<number> {
  const root = path.join(dir, 'storage', 'shares');
  let n = 0;
  for (const e of await fs.readdir(root, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile() && /^\d+$/.test(e.name)) n++;
  }
  return n;
}

describe('grid manager (real processes)', () => {
  it(
    'a client that trusts the manager never sends a share to an uncertified server',
    async () => {
      const admin = tempDir('cairn-admin-');
      const gm = path.join(admin, 'gm');
      const managerId = (await ok(['grid-manager', 'create', '--dir', gm], admin)).trim();
      expect(managerId).toMatch(/^gm-v0-[a-z2-7]{52}$/);
      expect(statSync(path.join(gm, 'private', 'manager.key')).mode & 0o777).toBe(0o600);
      expect((await ok(['grid-manager', 'public-identity', '--dir', gm], admin)).trim()).toBe(managerId);

      const relay = await spawnRelay();
      stops.push(() => relay.stop());
      // Each server's id comes from its first start; it is certified, then restarted with the certificate.
      const servers: SpawnedServer[] = [];
      for (let i = 0; i < 4; i++) {
        const first = await spawnServer({ bundled: true, port: 0 });
        await first.stop();
        let extraArgs: string[] = [];
        if (i < 3) {
          const cert = await ok(
            ['grid-manager', 'add-storage', `s${i}`, first.serverId, '--dir', gm, '--days', '30'],
            admin,
          );
          const file = path.join(admin, `s${i}.cert`);
          await fs.writeFile(file, cert);
          extraArgs = ['--grid-manager-cert', file];
        }
        const s = await spawnServer({ bundled: true, dir: first.dir, relayUrl: relay.url, extraArgs });
        stops.push(() => s.stop());
        servers.push(s);
      }
      const uncertified = servers[3];
      await waitFor(async () => (await fetchGridServers(relay.url)).length === 4, {
        what: 'the relay to list 4 servers',
      });
      const listed = await ok(['grid-manager', 'list', '--dir', gm], admin);
      expect(listed.trim().split('\n')).toHaveLength(3);
      expect(listed).toContain(servers[0].serverId);
      expect(listed).not.toContain(uncertified.serverId);

      // A certificate for another server is refused at start, with what to do.
      const wrong = await runCairn(
        [
          'server',
          '--dir',
          tempDir('cairn-server-'),
          '--port',
          '0',
          '--grid-manager-cert',
          path.join(admin, 's0.cert'),
        ],
        admin,
      );
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/certificate is for server v0-.*not this one.*ask the grid manager/);

      const invite = await ok(['invite', '--grid', relay.url, '--grid-manager', gm], admin);
      const link = /^Link: (\S+)$/m.exec(invite)?.[1];
      const code = /^Code: (\S+)$/m.exec(invite)?.[1];
      expect(link).toBe(`${relay.url}/#/join/${code}`);
      const home = tempDir('cairn-home-');
      expect(await ok(['join', code as string], home)).toContain(managerId);

      // N = 10 over four servers: a client using all four would give the fourth some shares.
      const work = tempDir('cairn-files-');
      const data = new Uint8Array(300_000).map((_, i) => (i * 11 + 7) & 0xff);
      await fs.writeFile(path.join(work, 'in'), data);
      const cap = (
        await ok(['put', path.join(work, 'in'), '--k', '3', '--happy', '3', '--n', '10'], home)
      ).trim();
      for (const s of servers.slice(0, 3)) expect(await sharesIn(s.dir)).toBeGreaterThan(0);
      expect(await sharesIn(uncertified.dir)).toBe(0);
      await ok(['get', cap, path.join(work, 'out')], home);
      expectBytesEqual(new Uint8Array(await fs.readFile(path.join(work, 'out'))), data);

      // Happiness 4 needs a fourth certified server: refused, saying why, and still nothing sent to it.
      const four = await runCairn(
        ['put', path.join(work, 'in'), '--k', '2', '--happy', '4', '--n', '4'],
        home,
      );
      expect(four.code).not.toBe(0);
      expect(await sharesIn(uncertified.dir)).toBe(0);

      // The same client without the manager uses all four (the grid is otherwise the same).
      const open = tempDir('cairn-home-');
      await ok(
        ['put', path.join(work, 'in'), '--grid', relay.url, '--k', '2', '--happy', '4', '--n', '4'],
        open,
      );
      expect(await sharesIn(uncertified.dir)).toBeGreaterThan(0);

      // remove: forgotten by the manager, its certificate file gone.
      await ok(['grid-manager', 'remove', 's2', '--dir', gm], admin);
      expect(await ok(['grid-manager', 'list', '--dir', gm], admin)).not.toContain(servers[2].serverId);
    },
    TIMEOUT,
  );
});
