/**
 * `cairn server` as a real process: a hard kill and restart serves every closed share and
 * forgets unfinished uploads; reserved space is honoured.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectStorageServer } from '../../core/protocol/client.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, spawnServer, startTestServer } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const secrets = () => ({ renew: rand(32), cancel: rand(32), upload: rand(20) });

afterAll(() => cleanup());

describe('restart', () => {
  it('after SIGKILL, serves closed shares with the same identity and forgets unclosed ones', async () => {
    const first = await spawnServer({});
    const si = asStorageIndex(rand(16));
    const s = secrets();
    const data = rand(300_000);
    let conn = await connectStorageServer(first.url!, first.serverId);
    await conn.allocateBuckets(si, s, [asShareNum(0), asShareNum(1)], data.length);
    await conn.writeShare(si, asShareNum(0), s.upload, 0, data);
    await conn.closeShare(si, asShareNum(0), s.upload);
    await conn.writeShare(si, asShareNum(1), s.upload, 0, data.subarray(0, 1000)); // never closed
    conn.close();
    await first.stop('SIGKILL');

    // The restart runs the bundled entry `cairn grid` uses: same folder, same server.
    const again = await spawnServer({ dir: first.dir, bundled: true });
    // While it runs, a second server on the same folder refuses to start.
    await expect(spawnServer({ dir: first.dir })).rejects.toThrow(/another server \(pid \d+\) is using/);
    expect(again.serverId).toBe(first.serverId);
    expect(again.process.spawnargs[1]).toMatch(/server-[0-9a-f]{16}\.mjs$/);
    conn = await connectStorageServer(again.url!, again.serverId);
    expect(await conn.listShares(si)).toEqual([0]);
    expectBytesEqual(await conn.readShare(si, asShareNum(0), 0, data.length), data);
    // The unfinished upload left nothing behind, and the share can be uploaded afresh.
    expect(await fs.readdir(path.join(first.dir, 'storage', 'incoming'))).toEqual([]);
    expect((await conn.allocateBuckets(si, secrets(), [asShareNum(1)], 10)).allocated).toEqual([1]);
    conn.close();
    await again.stop();
    // The key file is private.
    const st = await fs.stat(path.join(first.dir, 'private', 'server.key'));
    expect(st.mode & 0o077).toBe(0);
  });
});

describe('reserved space', () => {
  it('refuses allocations that would eat into it, counting uploads in progress', async () => {
    const probe = await startTestServer();
    const free = await probe.server.availableSpace();
    await probe.close();
    // Leave 64 MiB usable.
    const node = await startTestServer({ dir: probe.dir, reservedSpace: free - 64 * 2 ** 20 });
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
