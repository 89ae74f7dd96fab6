/**
 * The static bundle self-hosts: dist/web copied as is to a plain static web server (Python's
 * http.server) on another port, with config.json naming the grid, is a whole Cairn for its
 * visitors: the page uses that grid without anyone setting it, an upload works, and a
 * fresh browser downloads the file through the link. Without config.json's grid the same
 * link still opens, because it names its grid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { waitFor } from '../harness/wait.ts';
import { capOf, openApp, uploadedLink } from './app-helpers.ts';

const base = () => process.env.CAIRN_URL!;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `python3 -m http.server` serving `dir` on 127.0.0.1; resolves once it answers. */
async function staticServer(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], {
    cwd: dir,
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(
    async () => {
      try {
        return (await fetch(url)).ok;
      } catch {
        return false;
      }
    },
    { what: 'the static server to answer', timeoutMs: 20_000 },
  );
  return {
    url,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

test('dist/web on a plain static server with config.json: upload, and a fresh browser downloads through the link', async ({
  browser,
}) => {
  // The build writes config.json, editable by hand ({"grid": ""} when CAIRN_GRID was unset).
  expect(JSON.parse(readFileSync('dist/web/config.json', 'utf8'))).toHaveProperty('grid');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-static-'));
  cpSync('dist/web', dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ grid: base() }));
  const site = await staticServer(dir);
  const bare = mkdtempSync(path.join(os.tmpdir(), 'cairn-static-bare-'));
  cpSync('dist/web', bare, { recursive: true });
  writeFileSync(path.join(bare, 'config.json'), JSON.stringify({ grid: '' }));
  const other = await staticServer(bare);
  try {
    expect(new URL(site.url).origin).not.toBe(new URL(base()).origin);
    const up = await openApp(browser, site.url);
    // The grid is the deployment's, not this static server's; its servers are there.
    await up.page.goto(`${site.url}#/grid`);
    await expect(up.page.getByRole('status')).toHaveText(/^(\d+) of \1 servers connected$/, {
      timeout: 30_000,
    });
    await up.page.goto(`${site.url}#/settings`);
    await expect(up.page.getByText(`this site's grid, ${new URL(base()).origin}/`)).toBeVisible();
    await up.page.goto(site.url);
    const body = Buffer.from('served from a static host\n'.repeat(2000));
    await up.page.getByLabel('Choose files to upload').setInputFiles({
      name: 'static.txt',
      mimeType: 'text/plain',
      buffer: body,
    });
    const link = await uploadedLink(up.page, 'static.txt');
    expect(new URL(link).origin).toBe(new URL(site.url).origin);
    await up.context.close();

    // A visitor who never set anything: the link opens and downloads the same bytes.
    const { context, page } = await openApp(browser, link);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('static.txt');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('static.txt');
    expect(readFileSync((await download.path())!).equals(body)).toBe(true);
    await context.close();

    // Another deployment with no grid of its own: the link names its grid, so it still opens there.
    const moved = `${other.url}${new URL(link).hash}`;
    const named = new URLSearchParams(new URL(link).hash.split('?')[1]).get('grid');
    expect(new URL(named!).origin).toBe(new URL(base()).origin);
    const elsewhere = await openApp(browser, moved);
    await expect(elsewhere.page.getByRole('heading', { level: 1 })).toHaveText('static.txt');
    await expect(elsewhere.page.getByText(`${body.length.toLocaleString('en-US')} bytes`)).toBeVisible({
      timeout: 30_000,
    });
    expect(capOf(moved)).toBe(capOf(link));
    await elsewhere.context.close();
  } finally {
    await site.stop();
    await other.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bare, { recursive: true, force: true });
  }
});
