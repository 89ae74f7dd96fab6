/**
 * The Grid page tells the truth about the configured grid: every server known to be part of
 * it, connected, unreachable or refusing, with when it was last seen; stopped servers stay
 * as unreachable instead of vanishing; another grid address shows that grid, not the old
 * one's servers; offline it says so and shows what it knew. The Upload page warns before an
 * upload that cannot succeed. And `cairn grid`'s own server processes, stopped one by one
 * with SIGTERM, leave at once while the page shows them going.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { waitFor } from '../harness/wait.ts';
import { openApp } from './app-helpers.ts';
import { startWebGrid } from './web-grid.ts';
import { processAlive } from '../harness/process.ts';

const rowOf = (page: Page, nickname: string) => page.getByRole('row', { name: new RegExp(`^${nickname} `) });

test('stopped servers show as unreachable with when they were last seen; another grid shows only itself; offline says so; the Upload page warns', async ({
  browser,
}) => {
  const grid = await startWebGrid(6);
  try {
    await grid.waitForServers(6);
    const { context, page } = await openApp(browser, grid.url);
    await page.goto(`${grid.url}#/grid`);
    const status = page.getByRole('status');
    await expect(status).toHaveText('6 of 6 servers connected', { timeout: 30_000 });
    await expect(rowOf(page, 'server-1')).toContainText(/connected\s*now/);

    // Two servers stop: the relay drops them from its list, the page keeps them, unreachable.
    await Promise.all(grid.nodes.slice(0, 2).map((n) => n.close()));
    await expect(status).toHaveText('4 of 6 servers connected · 2 unreachable', { timeout: 30_000 });
    for (const name of ['server-0', 'server-1']) {
      await expect(rowOf(page, name)).toContainText('unreachable');
      await expect(rowOf(page, name)).toContainText('(no longer listed)');
      await expect(rowOf(page, name)).toContainText(/just now|\d+ s ago/);
    }
    await expect(rowOf(page, 'server-2')).toContainText(/connected\s*now/);

    // A fresh tab of the same browser knows them too.
    const again = await context.newPage();
    await again.goto(`${grid.url}#/grid`);
    await expect(again.getByRole('status')).toHaveText('4 of 6 servers connected · 2 unreachable', {
      timeout: 30_000,
    });
    await again.close();

    // The Upload page warns before an upload that cannot succeed (4 servers, 7 required).
    await page.goto(grid.url);
    await expect(page.getByRole('status').filter({ hasText: 'Only' })).toHaveText(
      "Only 4 of the grid's storage servers can be reached now, and each upload needs at least 7 (“Servers required” in Settings). Uploads will fail until more servers are back, or lower that number.",
      { timeout: 30_000 },
    );

    // Another grid address, where nothing listens: none of this grid's servers, and why.
    await page.goto(`${grid.url}#/settings`);
    await page.getByLabel('Grid address').fill('ws://127.0.0.1:9/');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.goto(`${grid.url}#/grid`);
    await expect(page.getByText('Grid at ws://127.0.0.1:9/.')).toBeVisible();
    await expect(page.getByText("The grid's relay at ws://127.0.0.1:9/ cannot be reached now.")).toBeVisible({
      timeout: 30_000,
    });
    await expect(page.getByRole('status')).toHaveText('Nothing is known about this grid yet.');
    await expect(page.getByRole('row')).toHaveCount(0);
    await page.goto(grid.url);
    await expect(
      page.getByText(/The grid at 127\.0\.0\.1:9 cannot be reached now, so uploads will fail\./),
    ).toBeVisible({
      timeout: 30_000,
    });

    // Back on this grid, then offline in a fresh tab: said so, and what was known is shown.
    await page.goto(`${grid.url}#/settings`);
    await page.getByRole('button', { name: 'Restore defaults' }).click();
    await context.setOffline(true);
    const offline = await context.newPage();
    await offline.goto(`${grid.url}#/grid`);
    await expect(offline.getByText('This device is offline: the grid cannot be reached.')).toBeVisible();
    await expect(offline.getByRole('status')).toHaveText('0 of 6 servers connected · 6 unreachable', {
      timeout: 30_000,
    });
    await expect(rowOf(offline, 'server-3')).toContainText(/unreachable.*(just now|s ago|min ago)/s);
    await context.close();
  } finally {
    await grid.close();
  }
});

test('`cairn grid` servers stopped one by one with SIGTERM exit at once, and the Grid page shows each unreachable', async ({
  browser,
}) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-grid-term-'));
  const child: ChildProcess = spawn(
    process.execPath,
    ['cli/bin/cairn.js', 'grid', '--servers', '3', '--port', '0', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAIRN_HOME: dir } },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    const url = (
      await waitFor(() => /open (http:\/\/\S+)/.exec(out), {
        what: 'cairn grid to print its URL',
        timeoutMs: 90_000,
        detail: () => out,
      })
    )[1];
    // Its storage server processes, by nickname.
    const servers = new Map<string, number>();
    for (const line of execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], {
      encoding: 'utf8',
    }).split('\n')) {
      const m = /^\s*(\d+) .* --nickname (server-\d+)/.exec(line);
      if (m) servers.set(m[2], Number(m[1]));
    }
    expect([...servers.keys()].sort()).toEqual(['server-00', 'server-01', 'server-02']);

    const { context, page } = await openApp(browser, url);
    await page.goto(`${url}#/grid`);
    await expect(page.getByRole('status')).toHaveText('3 of 3 servers connected', { timeout: 30_000 });
    let stopped = 0;
    for (const [name, pid] of servers) {
      const t0 = Date.now();
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !processAlive(pid), {
        what: `${name} (pid ${pid}) to exit after SIGTERM`,
        timeoutMs: 5_000,
        detail: () => `it still runs ${Date.now() - t0} ms after the signal`,
      });
      stopped++;
      await expect(rowOf(page, name)).toContainText('unreachable', { timeout: 30_000 });
      await expect(page.getByRole('status')).toHaveText(
        `${3 - stopped} of 3 servers connected · ${stopped} unreachable`,
        { timeout: 30_000 },
      );
    }
    await context.close();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
