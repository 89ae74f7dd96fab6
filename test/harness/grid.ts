/**
 * Starting storage servers and relays for tests, on 127.0.0.1 with ephemeral ports and
 * throwaway folders. Two flavours:
 *  - in-process (`startTestRelay`, `startTestServer`, `startTestGrid`): fast, for API tests;
 *  - real processes (`spawnServer`, `spawnRelay`) running `cairn server` / `cairn relay`,
 *    for tests about processes (kill, restart). See test/harness/README.md.
 * Everything started is stopped by the returned `close()`/`stop()`; `cleanup()` removes
 * the folders this module made.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFlagsFor } from '../../cli/bin/node-flags.js';
import {
  type ConnectOptions,
  connectStorageServer,
  type StorageConnection,
} from '../../core/protocol/client.ts';
import { serverRoutes } from '../../core/protocol/grid.ts';
import { asServerId, type ServerId } from '../../core/types.ts';
import { type Relay, type RelayOptions, startRelay } from '../../relay/relay.ts';
import { bundleServer } from '../../cli/server-bundle.ts';
import { type StorageNode, type StorageNodeOptions, startStorageNode } from '../../server/node.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const made: string[] = [];

/** A fresh folder under the OS temp dir, removed by cleanup(). */
export function tempDir(prefix = 'cairn-test-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Removes every folder tempDir() made. */
/** Processes spawnNode started that have not exited yet. */
const running = new Set<ChildProcess>();

/**
 * Ends every process spawnNode started that is still running (a test that failed half way
 * through starting ten servers must not leave the other nine behind), then removes the
 * temporary folders.
 */
export function cleanup(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function startTestRelay(
  opts: { webRoot?: string; limits?: RelayOptions['limits'] } = {},
): Promise<Relay> {
  return startRelay({ port: 0, ...opts });
}

export interface TestServerOptions extends Partial<StorageNodeOptions> {
  /** false: relay-only (no listening socket). Default true. */
  listen?: boolean;
}

/** An in-process storage server; waits until the relay (if any) has accepted its announcement. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<StorageNode & { dir: string }> {
  const dir = opts.dir ?? tempDir('cairn-server-');
  const node = await startStorageNode({
    ...opts,
    dir,
    port: opts.listen === false ? null : (opts.port ?? 0),
  });
  await node.relayLink?.whenAnnounced();
  return Object.assign(node, { dir });
}

export interface TestGrid {
  relay: Relay;
  servers: Array<StorageNode & { dir: string }>;
  /** Connects to server i by its best route (direct, else through the relay). */
  connect(i: number, opts?: ConnectOptions): Promise<StorageConnection>;
  close(): Promise<void>;
}

/** A relay and `servers` in-process servers announced to it; the last `relayOnly` of them do not listen. */
export async function startTestGrid(
  opts: {
    servers: number;
    relayOnly?: number;
    /** More options for server i. */
    serverOptions?: (i: number) => TestServerOptions;
  } = { servers: 3 },
): Promise<TestGrid> {
  const relay = await startTestRelay();
  const servers: TestGrid['servers'] = [];
  for (let i = 0; i < opts.servers; i++) {
    const listen = i < opts.servers - (opts.relayOnly ?? 0);
    servers.push(
      await startTestServer({
        relayUrl: relay.url,
        listen,
        nickname: `test-${i}`,
        ...opts.serverOptions?.(i),
      }),
    );
  }
  return {
    relay,
    servers,
    connect(i, copts) {
      const s = servers[i];
      return connectStorageServer(serverRoutes(s, relay.url)[0], s.serverId, copts);
    },
    async close() {
      for (const s of servers) await s.close();
      await relay.close();
    },
  };
}

// ---- real processes -------------------------------------------------------------------

export interface SpawnedServer {
  readonly serverId: ServerId;
  /** Direct ws:// URL, or null when relay-only. */
  readonly url: string | null;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM (or the given signal) and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs `cairn server` as a child process and waits for its ready line.
 * `port: null` makes it relay-only (needs relayUrl). Reuse `dir` to restart the same server.
 */
export async function spawnServer(opts: {
  dir?: string;
  port?: number | null;
  relayUrl?: string;
  /** Servers to join through (`--peer`). */
  peers?: string[];
  nickname?: string;
  reservedSpace?: string;
  extraArgs?: string[];
  /** Run the bundled server entry on bare Node (as `cairn grid` does): lighter and faster to start. */
  bundled?: boolean;
  /** Run it under `ulimit -n` (the most files the process may have open). */
  maxOpenFiles?: number;
}): Promise<SpawnedServer> {
  const dir = opts.dir ?? tempDir('cairn-server-');
  const args = ['server', '--dir', dir];
  if (opts.port !== null) args.push('--port', String(opts.port ?? 0));
  if (opts.relayUrl) args.push('--relay', opts.relayUrl);
  for (const peer of opts.peers ?? []) args.push('--peer', peer);
  if (opts.nickname) args.push('--nickname', opts.nickname);
  if (opts.reservedSpace) args.push('--reserved-space', opts.reservedSpace);
  args.push(...(opts.extraArgs ?? []));
  const ready = /Storage server (v0-[a-z2-7]{52}) ready(?: at (ws:\/\/\S+))?/;
  const { child, match, output } = opts.bundled
    ? await spawnNode(
        [...nodeFlagsFor('server'), await bundleServer(), ...args.slice(1)],
        ready,
        30_000,
        opts.maxOpenFiles,
      )
    : await spawnCairn(args, ready, 30_000, opts.maxOpenFiles);
  return {
    serverId: asServerId(match[1]),
    url: match[2] ?? null,
    dir,
    process: child,
    output,
    stop: (signal) => stopChild(child, signal),
  };
}

export interface SpawnedRelay {
  readonly url: string;
  readonly process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnRelay(opts: { port?: number } = {}): Promise<SpawnedRelay> {
  const { child, match, output } = await spawnCairn(
    ['relay', '--port', String(opts.port ?? 0)],
    /Relay ready at (http:\/\/\S+)/,
  );
  return { url: match[1], process: child, output, stop: (signal) => stopChild(child, signal) };
}

/**
 * Runs `node cli/bin/cairn.js ARGS` (with the node flags the command would restart itself
 * with, so the child is the command's own process) and resolves when stdout matches `ready`.
 */
export function spawnCairn(
  args: string[],
  ready: RegExp,
  timeoutMs = 30_000,
  maxOpenFiles?: number,
): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  return spawnNode(
    [...nodeFlagsFor(args[0]), path.join(repoRoot, 'cli/bin/cairn.js'), ...args],
    ready,
    timeoutMs,
    maxOpenFiles,
  );
}

/**
 * Runs `node ARGS` in the repository and resolves when stdout matches `ready`. With
 * `maxOpenFiles`, bash lowers the open-file limit and then becomes node (same process).
 */
export function spawnNode(
  args: string[],
  ready: RegExp,
  timeoutMs = 30_000,
  maxOpenFiles?: number,
): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child =
    maxOpenFiles === undefined
      ? spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -n ${maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...args], {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const name = path.basename(args.find((a) => !a.startsWith('--')) ?? 'node');
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not get ready in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve({ child, match: m, output: () => out });
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${out}`));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}
