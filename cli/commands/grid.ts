/**
 * `cairn grid`: a whole local grid on 127.0.0.1 — a relay that also serves the web app,
 * and N storage servers as child processes (`cairn server`) announced to it. Data lives
 * in DIR (servers/NN/ keep their keys and shares), so a restart brings the same grid back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { SERVICE_NODE_FLAGS } from '../bin/node-flags.js';
import { createWriteStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Relay } from '../../relay/relay.ts';
import { bundleServer } from '../server-bundle.ts';
import { intOption, parse } from '../args.ts';
import type { Command } from '../command.ts';
import { lastGridFile } from '../grid-client.ts';
import { s3Options } from '../s3-options.ts';
import { cairnHome, repoRoot, webBundleDir } from '../paths.ts';

const usage = `usage: cairn grid [--servers N] [--dir DIR] [--port P] [--s3 URL [--bucket NAME] [--prefix P] [--s3-credentials FILE]]

Starts a local grid on 127.0.0.1 and serves the web app; prints the URL to open.
  --servers N  storage servers to start (default 10)
  --dir DIR    where the grid keeps its data, kept across restarts (default ~/.cairn/grid)
  --port P     the relay's and web app's port (default 3456; 0 picks a free one)
  --s3 URL     keep the servers' shares in an S3-compatible object store (e.g. Ceph radosgw),
               each server under its own prefix P/server-NN/ of one bucket (default bucket
               cairn-grid, default P grid); credentials as for cairn server --s3
               (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --s3-credentials FILE)
Server logs go to DIR/logs/. Stop it with Ctrl-C.`;

interface Child {
  name: string;
  process: ChildProcess;
}

export const gridCommand: Command = {
  name: 'grid',
  summary: 'start a local grid and serve the web app',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        servers: { type: 'string' },
        dir: { type: 'string' },
        port: { type: 'string' },
        s3: { type: 'string' },
        bucket: { type: 'string' },
        prefix: { type: 'string' },
        's3-credentials': { type: 'string' },
      },
      0,
    );
    // Checked here, once, rather than by N servers failing alike.
    const s3 = await s3Options({
      s3: values.s3,
      bucket: values.s3 === undefined ? values.bucket : (values.bucket ?? 'cairn-grid'),
      prefix: values.prefix,
      credentialsFile: values['s3-credentials'],
    });
    const s3Args = (name: string): string[] =>
      s3
        ? [
            '--s3',
            s3.endpoint,
            '--bucket',
            s3.bucket,
            '--prefix',
            `${(s3.prefix ?? 'grid').replace(/\/+$/, '')}/${name}`,
            ...(values['s3-credentials'] ? ['--s3-credentials', path.resolve(values['s3-credentials'])] : []),
          ]
        : [];
    const count = intOption(values.servers, 'servers', 1, 256, 10);
    const port = intOption(values.port, 'port', 0, 65535, 3456);
    const dir = path.resolve(values.dir ?? path.join(cairnHome(), 'grid'));
    await fs.mkdir(path.join(dir, 'logs'), { recursive: true });

    const hasWeb = existsSync(path.join(webBundleDir, 'index.html'));
    if (!hasWeb)
      console.log(`note: no web app at ${webBundleDir} (run 'npm run build'); serving the grid only`);
    const relayLog = createWriteStream(path.join(dir, 'logs', 'relay.log'), { flags: 'a' });
    // The relay's code is loaded here, not at every `cairn` start (its own bundle chunk).
    const { startRelay } = await import('../../relay/relay.ts');
    const relay = await startRelay({
      port,
      webRoot: hasWeb ? webBundleDir : undefined,
      log: (line) => relayLog.write(`${new Date().toISOString()} ${line}\n`),
    });

    const children: Child[] = [];
    let stopping = false;
    const entry = await serverEntry();
    for (let i = 0; i < count; i++) {
      const name = `server-${String(i).padStart(2, '0')}`;
      children.push(
        startServer(
          entry,
          name,
          path.join(dir, 'servers', name),
          path.join(dir, 'logs', `${name}.log`),
          relay.url,
          () => stopping,
          s3Args(name),
        ),
      );
    }
    try {
      await waitForServers(relay, count, children, 60_000);
    } catch (err) {
      stopping = true;
      await stopAll(children, relay);
      throw err;
    }
    await fs.mkdir(cairnHome(), { recursive: true });
    await fs.writeFile(lastGridFile(), `${relay.url}\n`);
    console.log(`data: ${dir}${s3 ? ` (shares in bucket ${s3.bucket} at ${s3.endpoint})` : ''}`);
    console.log(`${count} storage servers announced to the relay at ${relay.url}`);
    console.log(`Cairn is running: open http://127.0.0.1:${relay.port}/`);

    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    stopping = true;
    await stopAll(children, relay);
    relayLog.end();
    return 0;
  },
};

/** How to run one server: the bundled entry on bare Node, or the CLI if bundling fails. */
async function serverEntry(): Promise<string[]> {
  try {
    return [await bundleServer()];
  } catch (err) {
    console.log(
      `note: running servers through the TypeScript loader (${(err as Error).message.split('\n')[0]})`,
    );
    return [path.join(repoRoot, 'cli/bin/cairn.js'), 'server'];
  }
}

function startServer(
  entry: string[],
  name: string,
  dir: string,
  logFile: string,
  relayUrl: string,
  stopping: () => boolean,
  extraArgs: string[],
): Child {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    [
      ...SERVICE_NODE_FLAGS,
      ...entry,
      '--dir',
      dir,
      '--port',
      '0',
      '--relay',
      relayUrl,
      '--nickname',
      name,
      ...extraArgs,
    ],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CAIRN_EXIT_WITH_STDIN: '1' } },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  child.once('exit', (code, signal) => {
    if (!stopping()) console.log(`${name} exited (${signal ?? code}); see ${logFile}`);
  });
  return { name, process: child };
}

async function waitForServers(
  relay: Relay,
  count: number,
  children: Child[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (relay.registry.list().length < count) {
    const dead = children.find((c) => c.process.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited while starting; see its log`);
    if (Date.now() > deadline) {
      throw new Error(
        `only ${relay.registry.list().length} of ${count} servers announced themselves in time`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopAll(children: Child[], relay: Relay): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          const p = c.process;
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          const force = setTimeout(() => p.kill('SIGKILL'), 5000);
          p.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          p.kill('SIGTERM');
        }),
    ),
  );
  await relay.close();
}
