/**
 * The Join page with a real grid (issue #14 point 4): a relay serving the app and four
 * storage servers, three certified by a grid manager. Opening the invitation link and
 * pressing Join makes the browser use only the certified servers: an upload from the page
 * leaves no share on the fourth.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { expect, test } from '@playwright/test';
import { invitationLink } from '../../core/client/invite.ts';
import { gridManagerId, signCertificate } from '../../core/protocol/grid-manager.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { startRelay } from '../../relay/relay.ts';
import { type StorageNode, startStorageNode } from '../../server/node.ts';
import { waitFor } from '../harness/wait.ts';
import { uploadedLink } from './app-helpers.ts';

function sharesIn(dir: string): number {
  try {
    return readdirSync(path.join(dir, 'storage', 'shares'), { recursive: true, withFileTypes: true }).filter(
      (e) => e.isFile() && /^\d+$/.test(e.name),
    ).length;
  } catch {
    return 0;
  }
}

test('joining through an invitation keeps uploads off servers the grid manager has not certified', async ({
  browser,
}) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cairn-join-'));
  const relay = await startRelay({ port: 0, webRoot: path.resolve('dist/web') });
  const nodes: StorageNode[] = [];
  try {
    const secret = ed25519.utils.randomSecretKey();
    const manager = gridManagerId(ed25519.getPublicKey(secret));
    const dirs = [0, 1, 2, 3].map((i) => path.join(root, `server-${i}`));
    for (const [i, dir] of dirs.entries()) {
      // The first start makes the server's key; the manager certifies that id.
      const first = await startStorageNode({ dir, port: 0 });
      const serverId = first.serverId;
      await first.close();
      const certificates =
        i < 3 ? [signCertificate(secret, { serverId, expires: Date.now() + 86_400_000 })] : [];
      nodes.push(
        await startStorageNode({ dir, port: 0, relayUrl: relay.url, nickname: `s${i}`, certificates }),
      );
    }
    await waitFor(async () => (await fetchGridServers(relay.url)).length === 4, {
      what: 'the relay to list 4 servers',
    });

    const context = await browser.newContext();
    // Shares for three servers: k 2, happy 3, N 6 (set before the app first reads its settings).
    await context.addInitScript(() => {
      if (!localStorage.getItem('cairn.settings')) {
        localStorage.setItem(
          'cairn.settings',
          JSON.stringify({ k: 2, happy: 3, n: 6, convergence: true, gridUrl: '', gridManagers: [] }),
        );
      }
    });
    const page = await context.newPage();
    await page.goto(invitationLink(relay.url, { grid: [relay.url], gridManagers: [manager] }));
    await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 20_000 });
    await expect(page.getByRole('heading', { name: 'Join a grid' })).toBeVisible();
    await expect(page.getByText(manager)).toBeVisible();
    await page.getByRole('button', { name: 'Join this grid' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Joined' })).toBeVisible();

    await page.goto(`${relay.url}/#/`);
    await page.getByLabel('Choose files to upload').setInputFiles({
      name: 'joined.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(200_000, 7),
    });
    await uploadedLink(page, 'joined.bin');
    for (const dir of dirs.slice(0, 3)) expect(sharesIn(dir)).toBeGreaterThan(0);
    expect(sharesIn(dirs[3])).toBe(0);

    // The Grid page shows the grid this browser uses: the three certified servers, not the fourth.
    await page.goto(`${relay.url}/#/grid`);
    await expect(page.getByRole('status').filter({ hasText: '3 of 3 servers connected' })).toBeVisible({
      timeout: 20_000,
    });
    const rows = page.getByRole('region', { name: 'Storage servers' }).getByRole('rowheader');
    await expect(rows).toHaveText(['s0', 's1', 's2'], { useInnerText: true, ignoreCase: false });
    await context.close();
  } finally {
    for (const n of nodes) await n.close();
    await relay.close();
    rmSync(root, { recursive: true, force: true });
  }
});
