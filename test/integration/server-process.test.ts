/**
 * `cairn server` as a real process: a hard kill and restart serves every closed share and
 * keeps checkpointed unfinished uploads for their own upload secret only, and leaves each
 * mutable slot at a whole version; reserved
 * space is honoured; a flood of uploads under a low open-file limit does not stop it. Started
 * by hand, without the node flags a server needs, it runs itself again with them.
 */
import { MemoryBackend } from '../../server/backends/memory-backend.ts';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectStorageServer, type StorageConnection } from '../../core/protocol/client.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import type { ShareTestWrite } from '../../core/protocol/storage-api.ts';
import {
  asServerId,
  asShareNum,
  asStorageIndex,
  type ShareNum,
  type StorageIndex,
} from '../../core/types.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { SERVICE_NODE_FLAGS } from '../../cli/bin/node-flags.js';
import {
  cleanup,
  type SpawnedServer,
  spawnRelay,
  spawnServer,
  startTestServer,
  tempDir,
} from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import { processAlive } from '../harness/process.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const secrets = () => ({ renew: rand(32), cancel: rand(32), upload: rand(20) });

afterAll(() => cleanup());

describe('restart', () => {
  it('after SIGKILL, serves closed shares with the same identity; an unclosed upload resumes with its own secret only', async () => {
    const first = await spawnServer({});
    const si = asStorageIndex(rand(16));
    const s = secrets();
    const data = rand(300_000);
    let conn = await connectStorageServer(first.url!, first.serverId);
    await conn.allocateBuckets(si, s, [asShareNum(0), asShareNum(1), asShareNum(2)], data.length);
    await conn.writeShare(si, asShareNum(0), s.upload, 0, data);
    await conn.closeShare(si, asShareNum(0), s.upload);
    await conn.writeShare(si, asShareNum(1), s.upload, 0, data.subarray(0, 100_000)); // never closed
    // Share 2 is never written. Share 1's bytes are checkpointed within seconds.
    const incoming = path.join(first.dir, 'storage', 'incoming');
    await waitFor(async () => (await fs.readdir(incoming)).some((n) => /\.1\.[0-9a-f]{16}\.state$/.test(n)), {
      what: 'the server to checkpoint the unfinished share',
      detail: async () => `incoming/ holds ${(await fs.readdir(incoming)).join(', ')}`,
    });
    conn.close();
    await first.stop('SIGKILL');

    // The restart runs the bundled entry `cairn grid` uses: same folder, same server.
    const again = await spawnServer({ dir: first.dir, bundled: true });
    // While it runs, a second server on the same folder refuses to start.
    await expect(spawnServer({ dir: first.dir })).rejects.toThrow(/another server \(pid \d+\) is using/);
    expect(again.serverId).toBe(first.serverId);
    expect(again.process.spawnargs).toContainEqual(expect.stringMatching(/server-[0-9a-f]{16}\/entry\.mjs$/));
    conn = await connectStorageServer(again.url!, again.serverId);
    expect(await conn.listShares(si)).toEqual([0]);
    expectBytesEqual(await conn.readShare(si, asShareNum(0), 0, data.length), data);
    // The unfinished share is kept (its data and checkpoint), and blocks nobody: another
    // upload secret is granted the share afresh, holding nothing.
    expect((await fs.readdir(incoming)).length).toBe(2);
    const other = secrets();
    const stranger = await conn.allocateBuckets(si, other, [asShareNum(1)], data.length);
    expect(stranger.allocated).toEqual([1]);
    expect(stranger.have?.size ?? 0).toBe(0);
    await conn.abortShare(si, asShareNum(1), other.upload);
    // Its own secret takes it back with the bytes it holds, and finishes it.
    const mine = await conn.allocateBuckets(si, s, [asShareNum(1), asShareNum(2)], data.length);
    expect(mine.allocated).toEqual([1, 2]);
    expect([...(mine.have ?? [])]).toEqual([[1, [[0, 100_000]]]]);
    await conn.writeShare(si, asShareNum(1), s.upload, 100_000, data.subarray(100_000));
    await conn.closeShare(si, asShareNum(1), s.upload);
    expectBytesEqual(await conn.readShare(si, asShareNum(1), 0, data.length), data);
    await conn.abortShare(si, asShareNum(2), s.upload);
    expect(await fs.readdir(incoming)).toEqual([]);
    expect(again.output()).toMatch(/kept 1 unfinished upload\(s\) from before the restart/);
    expect(again.output()).toMatch(/close si=\S+ sh=1 bytes=300000 received=200000/);
    conn.close();
    await again.stop();
    // The key file is private.
    const st = await fs.stat(path.join(first.dir, 'private', 'server.key'));
    expect(st.mode & 0o077).toBe(0);
  });
});

describe('a relay-only server', () => {
  it('outlives its relay and announces itself again when a relay comes back (found by bench/fuzz.ts)', async () => {
    const relay = await spawnRelay();
    const port = Number(new URL(relay.url).port);
    const server = await spawnServer({ relayUrl: relay.url, port: null, bundled: true });
    await waitFor(async () => (await fetchGridServers(relay.url)).length === 1, {
      what: 'the server to be listed',
    });
    await relay.stop();
    // Its link is gone and nothing listens: the process must still be there, retrying.
    await new Promise((r) => setTimeout(r, 1500));
    expect(server.process.exitCode).toBeNull();
    const again = await spawnRelay({ port });
    await waitFor(
      async () => (await fetchGridServers(again.url)).some((s) => s.serverId === server.serverId),
      {
        what: 'the server to announce itself to the new relay',
        timeoutMs: 20_000,
      },
    );
    await server.stop();
    await again.stop();
  });
});

describe('reserved space', () => {
  it('refuses allocations that would eat into it, counting uploads in progress', async () => {
    // Storage of a fixed 1 GiB (the memory backend; the real disk's free space moves with
    // other tests' writes), all but 64 MiB of it reserved.
    const node = await startTestServer({
      backend: new MemoryBackend({ capacity: 2 ** 30 }),
      reservedSpace: 2 ** 30 - 64 * 2 ** 20,
    });
    const conn = await connectStorageServer(node.url!, node.serverId);
    const v = await conn.getVersion();
    expect(v.availableSpace).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(v.availableSpace).toBeGreaterThan(32 * 2 ** 20);
    await expect(
      conn.allocateBuckets(asStorageIndex(rand(16)), secrets(), [asShareNum(0)], 256 * 2 ** 20),
    ).rejects.toMatchObject({ code: 'NO_SPACE' });
    // 40 MiB fits; a second 40 MiB does not while the first is in progress.
    const s1 = secrets();
    const si1 = asStorageIndex(rand(16));
    expect((await conn.allocateBuckets(si1, s1, [asShareNum(0)], 40 * 2 ** 20)).allocated).toEqual([0]);
    await expect(
      conn.allocateBuckets(asStorageIndex(rand(16)), secrets(), [asShareNum(0)], 40 * 2 ** 20),
    ).rejects.toMatchObject({ code: 'NO_SPACE' });
    // Of three 25 MiB shares only as many as fit are granted (at most one here).
    await conn.abortShare(si1, asShareNum(0), s1.upload);
    const r = await conn.allocateBuckets(
      asStorageIndex(rand(16)),
      secrets(),
      [0, 1, 2].map(asShareNum),
      25 * 2 ** 20,
    );
    expect(r.allocated.length).toBeGreaterThanOrEqual(1);
    expect(r.allocated.length).toBeLessThan(3);
    conn.close();
    await node.close();
  });
});

describe('mutable writes and a hard kill', () => {
  it('leave the slot at one whole version after restart, never a mix', async () => {
    const first = await spawnServer({ bundled: true });
    const si = asStorageIndex(rand(16));
    const secrets = { writeEnabler: rand(32), renew: rand(32), cancel: rand(32) };
    const size = 600_000;
    const version = (v: number) =>
      new Map<ShareNum, ShareTestWrite>([
        [
          asShareNum(0),
          { test: [], write: [{ offset: 0, data: new Uint8Array(size).fill(v) }], newLength: null },
        ],
      ]);
    let conn = await connectStorageServer(first.url!, first.serverId);
    for (let v = 1; v <= 3; v++)
      expect((await conn.readTestWrite(si, secrets, version(v), [])).success).toBe(true);
    // Versions 4..12 go out at once; the server works through them one by one. Once 4 is
    // done it is busy with the next: kill it there, wherever that is.
    const inFlight = Array.from({ length: 9 }, (_, i) => conn.readTestWrite(si, secrets, version(4 + i), []));
    for (const p of inFlight) p.catch(() => {});
    await inFlight[0];
    await first.stop('SIGKILL');
    conn.close();

    const again = await spawnServer({ dir: first.dir, bundled: true });
    conn = await connectStorageServer(again.url!, again.serverId);
    const data = await conn.readMutableShare(si, asShareNum(0), 0, size + 10);
    expect(data.length).toBe(size);
    const v = data[0];
    expect(v).toBeGreaterThanOrEqual(4);
    expect(v).toBeLessThanOrEqual(12);
    expect(data.every((b) => b === v)).toBe(true);
    expect(await fs.readdir(path.join(first.dir, 'storage', 'journal'))).toEqual([]);
    // And it takes the next version as usual.
    expect((await conn.readTestWrite(si, secrets, version(13), [])).success).toBe(true);
    expect((await conn.readMutableShare(si, asShareNum(0), size - 1, 1))[0]).toBe(13);
    conn.close();
    await again.stop();
  });
});

describe('file handles under a low open-file limit', () => {
  const ALL = Array.from({ length: 256 }, (_, i) => asShareNum(i));

  async function upload(conn: StorageConnection, data: Uint8Array): Promise<StorageIndex> {
    const si = asStorageIndex(rand(16));
    const s = secrets();
    await conn.allocateBuckets(si, s, [asShareNum(0)], data.length);
    await conn.writeShare(si, asShareNum(0), s.upload, 0, data);
    await conn.closeShare(si, asShareNum(0), s.upload);
    return si;
  }

  // Fails on the server before this change: it opened a file per bucket at allocate and
  // ran out of handles (EMFILE) for reads, lists and new connections alike.
  it('keep reads, lists, new connections and uploads working through a flood of uploads', async () => {
    let server: SpawnedServer | undefined;
    const conns: StorageConnection[] = [];
    try {
      server = await spawnServer({ bundled: true, maxOpenFiles: 256 });
      const connect = async () => {
        const c = await connectStorageServer(server!.url!, server!.serverId);
        conns.push(c);
        return c;
      };
      const honest = await connect();
      const stored = rand(50_000);
      const storedSi = await upload(honest, stored);
      // Six connections, each with as many uploads as it may hold, every one of them written.
      for (let a = 0; a < 6; a++) {
        const attacker = await connect();
        for (let f = 0; f < 2; f++) {
          const si = asStorageIndex(rand(16));
          const s = secrets();
          expect((await attacker.allocateBuckets(si, s, ALL, 2)).allocated).toHaveLength(256);
          await Promise.all(ALL.map((n) => attacker.writeShare(si, n, s.upload, 0, new Uint8Array([n]))));
        }
      }
      const fresh = await connect();
      expect(await fresh.listShares(storedSi)).toEqual([0]);
      expect(await fresh.readShare(storedSi, asShareNum(0), 0, stored.length)).toEqual(stored);
      const more = rand(20_000);
      const moreSi = await upload(fresh, more);
      expect(await honest.readShare(moreSi, asShareNum(0), 0, more.length)).toEqual(more);
      expect(server.output()).not.toMatch(/EMFILE/);
    } finally {
      for (const c of conns) c.close();
      await server?.stop();
    }
  });
});

describe('`cairn server` started without the node flags it needs', () => {
  const repoRoot = path.resolve(import.meta.dirname, '../..');
  /** `node cli/bin/cairn.js server` as a person types it; resolves once it says it is ready. */
  async function startByHand() {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'cli/bin/cairn.js'), 'server', '--dir', tempDir('cairn-byhand-'), '--port', '0'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const match = await waitFor(() => /Storage server (\S+) ready at (ws:\/\/\S+)/.exec(out), {
      what: 'the server to say it is ready',
      detail: () => out,
    });
    // The one process it started is the server, run with the flags.
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
    expect(kids).toHaveLength(1);
    const server = Number(kids[0]);
    const argv = readFileSync(`/proc/${server}/cmdline`, 'utf8').split('\0');
    for (const flag of SERVICE_NODE_FLAGS) expect(argv).toContain(flag);
    started.push(child.pid!, server);
    return { child, exited, server, id: match[1], url: match[2] };
  }

  const started: number[] = [];
  afterAll(() => {
    for (const pid of started) if (processAlive(pid)) process.kill(pid, 'SIGKILL'); // a failed test's leftovers
  });

  it('runs itself again with them, serves, and stops with its starter: told to, or killed', async () => {
    const a = await startByHand();
    const conn = await connectStorageServer(a.url, asServerId(a.id));
    expect(await conn.listShares(asStorageIndex(rand(16)))).toEqual([]);
    conn.close();
    a.child.kill('SIGTERM'); // passed on: the server closes and both leave, the exit code kept
    expect(await a.exited).toBe(0);
    await waitFor(() => !processAlive(a.server), {
      what: 'the server to stop after its starter was told to',
    });

    const b = await startByHand();
    b.child.kill('SIGKILL'); // nothing passed on: the server sees its starter gone
    await b.exited;
    await waitFor(() => !processAlive(b.server), { what: 'the server to stop after its starter was killed' });
  });
});
