/**
 * Mutable files (SDMF and MDMF) end to end with real processes on 127.0.0.1: a relay and ten
 * `cairn server` processes, clients built on core/client's Grid. Round trips of every size
 * class, range reads and in-place updates that cost what they touch, two clients racing,
 * servers that serve an older version or flipped bits, servers stopped, and writes without
 * the write enabler.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCapability, storageIndexOf } from '../../core/caps/index.ts';
import { CapAuthorityError, Grid, memoryServerListCache, readAll } from '../../core/client/index.ts';
import type { MutableNode } from '../../core/client/mutable-node.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { mapServers, ServerMap } from '../../core/mutable/servermap.ts';
import { retrieveVersion } from '../../core/mutable/retrieve.ts';
import { UncoordinatedWriteError } from '../../core/mutable/write-errors.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { StorageError } from '../../core/protocol/storage-api.ts';
import { asShareNum, type StorageIndex } from '../../core/types.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { cleanup, type SpawnedRelay, type SpawnedServer, spawnRelay, spawnServer } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';

const TIMEOUT = 240_000;
const SEGMENT = 131_073; // MDMF segment size at k = 3: next_multiple(131072, 3)
let relay: SpawnedRelay;
let servers: SpawnedServer[];
let codec: Awaited<ReturnType<typeof loadCodec>>;

function client(secretByte = 1): Grid {
  return new Grid({
    url: relay.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec }),
    secrets: async () => ({ lease: new Uint8Array(32).fill(secretByte), convergence: new Uint8Array(32) }),
  });
}

async function waitListed(count: number): Promise<void> {
  await waitFor(async () => (await fetchGridServers(relay.url)).length === count, {
    what: `the relay to list ${count} servers`,
    detail: async () => `it lists ${(await fetchGridServers(relay.url)).length}`,
  });
}

beforeAll(async () => {
  codec = await loadCodec();
  relay = await spawnRelay();
  servers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      spawnServer({ relayUrl: relay.url, nickname: `m${i}`, bundled: true }),
    ),
  );
  await waitListed(10);
}, TIMEOUT);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await relay.stop();
  cleanup();
});

/** The file holding share `shnum` of `si` on a server's disk (Tahoe's layout). */
function shareFile(server: SpawnedServer, si: StorageIndex, shnum: number): string {
  const b = base32Encode(si);
  return path.join(server.dir, 'storage', 'shares', b.slice(0, 2), b, String(shnum));
}

/** Which server holds share `shnum` of `si` (by looking at their folders). */
async function holderOf(si: StorageIndex, shnum: number): Promise<SpawnedServer> {
  for (const s of servers) {
    if (
      await fs
        .stat(shareFile(s, si, shnum))
        .then(() => true)
        .catch(() => false)
    )
      return s;
  }
  throw new Error(`no server holds share ${shnum}`);
}

describe('mutable files on a grid of real server processes', () => {
  it(
    'round-trips SDMF and MDMF files of every size class; each cap allows what it should',
    async () => {
      const grid = client();
      try {
        for (const format of ['sdmf', 'mdmf'] as const) {
          for (const size of [0, 1, SEGMENT - 1, 3 * SEGMENT + 17]) {
            const data = pattern(size, size + 1);
            const node = await grid.createMutable(data, { format });
            expect(node.cap).toMatch(format === 'sdmf' ? /^URI:SSK:/ : /^URI:MDMF:/);
            // A second client, knowing only the caps, reads it back.
            const other = client(2);
            try {
              expectBytesEqual(await readAll(other.open(node.cap)), data, `${format} ${size} via write cap`);
              const ro = other.open(node.readCap!);
              expect(ro.writable).toBe(false);
              expect(await ro.size()).toBe(size);
              expectBytesEqual(await readAll(ro), data, `${format} ${size} via read cap`);
              const v = other.open(node.verifyCap!);
              expect(v.readable).toBe(false);
              await expect(readAll(v)).rejects.toThrow(CapAuthorityError);
              expect(() => other.openMutable(node.readCap!)).toThrow(/read-only cap/);
              await expect((ro as MutableNode).overwrite(new Uint8Array(1))).rejects.toThrow(
                CapAuthorityError,
              );
            } catch (err) {
              other.close();
              throw err;
            }
            other.close();
          }
        }
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );

  it(
    '3 MiB MDMF: a range read fetches only the covering segments; update() writes only what it touches',
    async () => {
      const grid = client();
      try {
        const size = 3 * 1024 * 1024;
        const data = pattern(size, 7);
        const node = (await grid.createMutable(data, { format: 'mdmf' })) as MutableNode;
        const cap = parseCapability(node.readCap!);
        if (cap.kind !== 'ssk-read') throw new Error('expected a read cap');
        const si = storageIndexOf(cap);
        const conns = await grid.connections.connected();

        // Range read: bytes [2.5 segments, +100) touch segment 2 only.
        const map = await mapServers(si, conns, cap.fingerprint);
        const version = map.newestRecoverable()!;
        let blockBytes = 0;
        const offset = Math.floor(2.5 * SEGMENT);
        const got = await collect(
          retrieveVersion(si, version, {
            readKey: cap.readKey,
            tools: { backend: nodeCrypto, codec },
            offset,
            length: 100,
            onRead: (_sh, n) => {
              blockBytes += n;
            },
          }),
        );
        expectBytesEqual(got, data.subarray(offset, offset + 100), 'range');
        // Per share: the verification material (its block hash tree, ~1 KiB) and one
        // segment's block (~43 KiB); a whole share is over 1 MiB.
        expect(blockBytes).toBeLessThan(3 * (SEGMENT / 3 + 16 + 4096));
        expect(blockBytes).toBeGreaterThan(3 * (SEGMENT / 3));

        // In-place update of 1000 bytes inside segment 5, then one past the end (growth).
        let sent = 0;
        const patch = pattern(1000, 99);
        await node.update(5 * SEGMENT + 10, patch, {
          onProgress: (_done, total) => {
            sent = total;
          },
        });
        data.set(patch, 5 * SEGMENT + 10);
        // Ten shares, each: one segment (salt + block ~43 KiB) plus prefix, chain, signature, tree nodes.
        expect(sent).toBeGreaterThan(10 * (SEGMENT / 3));
        expect(sent).toBeLessThan(10 * (SEGMENT / 3 + 16 + 4096));
        expectBytesEqual(await readAll(client(3).open(node.readCap!)), data, 'after update');

        const tail = pattern(5000, 5);
        await node.update(size + 100, tail);
        const grown = new Uint8Array(size + 100 + tail.length);
        grown.set(data);
        grown.set(tail, size + 100);
        const reader = client(4);
        try {
          expect(await reader.open(node.readCap!).size()).toBe(grown.length);
          expectBytesEqual(await readAll(reader.open(node.readCap!)), grown, 'after growth');
        } finally {
          reader.close();
        }
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );

  it(
    'two clients racing: a write lands whole or fails with UncoordinatedWriteError; modify keeps both changes',
    async () => {
      const a = client(1);
      const b = client(2);
      try {
        const node = await a.createMutable(new TextEncoder().encode('start\n'), { format: 'mdmf' });
        const wa = a.openMutable(node.cap);
        const wb = b.openMutable(node.cap);
        for (let round = 0; round < 4; round++) {
          const da = pattern(50_000 + round, 100 + round);
          const db = pattern(60_000 + round, 200 + round);
          const [ra, rb] = await Promise.allSettled([wa.overwrite(da), wb.overwrite(db)]);
          for (const r of [ra, rb]) {
            if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(UncoordinatedWriteError);
          }
          const final = await readAll(client(5).open(node.readCap!));
          const isA = Buffer.from(final).equals(Buffer.from(da));
          const isB = Buffer.from(final).equals(Buffer.from(db));
          expect(isA || isB, `round ${round}: the file holds one writer's whole version`).toBe(true);
          // Nothing is lost silently: when the file does not hold a version whose write
          // reported success, the other write either succeeded after it or was told it collided.
          if (ra.status === 'fulfilled' && !isA)
            expect(rb.status === 'fulfilled' || rb.reason instanceof UncoordinatedWriteError).toBe(true);
          if (rb.status === 'fulfilled' && !isB)
            expect(ra.status === 'fulfilled' || ra.reason instanceof UncoordinatedWriteError).toBe(true);
        }
        // Appends from both clients at once, several each: every line survives, once. The
        // change is idempotent (a line already there is not added again), as modify asks.
        const append = (line: string) => (cur: Uint8Array) => {
          if (new TextDecoder().decode(cur).split('\n').includes(line.trim())) return null;
          const add = new TextEncoder().encode(line);
          const out = new Uint8Array(cur.length + add.length);
          out.set(cur);
          out.set(add, cur.length);
          return out;
        };
        await wa.overwrite(new Uint8Array(0));
        await Promise.all([
          (async () => {
            for (let i = 0; i < 3; i++) await wa.modify(append(`a${i}\n`));
          })(),
          (async () => {
            for (let i = 0; i < 3; i++) await wb.modify(append(`b${i}\n`));
          })(),
        ]);
        const lines = new TextDecoder()
          .decode(await readAll(client(6).open(node.readCap!)))
          .trim()
          .split('\n');
        expect(lines.sort()).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
        // And the version readers get stands whole: every share number, no rival at its seqnum.
        const cap = parseCapability(node.cap);
        if (cap.kind !== 'ssk-write') throw new Error('expected a write cap');
        const map = await mapServers(storageIndexOf(cap), await a.connections.connected(), cap.fingerprint);
        expect(map.uncoordinated()).toBe(false);
        expect(ServerMap.distinctShares(map.newestRecoverable()!)).toBe(10);
      } finally {
        a.close();
        b.close();
      }
    },
    TIMEOUT,
  );

  it(
    'an older version and flipped bits in every field of a share are routed around, never returned',
    async () => {
      const grid = client();
      try {
        for (const format of ['sdmf', 'mdmf'] as const) {
          const v1 = pattern(2 * SEGMENT + 5, 11);
          const node = await grid.createMutable(v1, { format });
          const si = storageIndexOf(parseCapability(node.cap))!;
          // Share 0's holder keeps its version-1 container; everyone else moves to version 2.
          const stale = await holderOf(si, 0);
          const oldShare = await fs.readFile(shareFile(stale, si, 0));
          const v2 = pattern(2 * SEGMENT + 9, 12);
          await grid.openMutable(node.cap).overwrite(v2);
          await fs.writeFile(shareFile(stale, si, 0), oldShare);
          // Shares 1..6: one flipped byte each, in a different field (container data starts at 468).
          const h = 468;
          const fields =
            format === 'sdmf'
              ? {
                  prefix: 9,
                  pubkey: 107 + 40,
                  signature: 401 + 10,
                  chain: 657 + 5,
                  tree: 657 + 136 + 3,
                  block: 900,
                }
              : {
                  prefix: 9,
                  encprivkey: 123 + 10,
                  chain: 1400,
                  signature: 1500,
                  pubkey: 1900,
                  block: 2167 + 20,
                };
          let shnum = 1;
          for (const at of Object.values(fields)) {
            const file = shareFile(await holderOf(si, shnum), si, shnum);
            const bytes = await fs.readFile(file);
            bytes[h + at] ^= 0x40;
            await fs.writeFile(file, bytes);
            shnum++;
          }
          const failures: string[] = [];
          const reader = client(7);
          try {
            const got = await readAll(reader.open(node.readCap!), {
              onShareError: (e) => failures.push(e.message),
            });
            expectBytesEqual(got, v2, `${format}: the newest version, exactly`);
          } finally {
            reader.close();
          }
          // Reading needs only 3 shares: whichever bad ones it met were named and given up on.
          for (const f of failures) expect(f).toMatch(/^share \d+: /);
        }
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );

  it(
    'a write without the write enabler is refused by every server, and changes nothing',
    async () => {
      const grid = client();
      try {
        const data = pattern(10_000, 3);
        const node = await grid.createMutable(data, { format: 'sdmf' });
        const si = storageIndexOf(parseCapability(node.cap))!;
        const conns = await grid.connections.connected();
        let refused = 0;
        for (const conn of conns) {
          const shares = await conn.listMutableShares(si);
          if (shares.length === 0) continue;
          const attempt = conn.readTestWrite(
            si,
            {
              writeEnabler: new Uint8Array(32).fill(7),
              renew: new Uint8Array(32),
              cancel: new Uint8Array(32),
            },
            new Map([
              [
                asShareNum(shares[0]),
                { test: [], write: [{ offset: 0, data: new Uint8Array(100) }], newLength: null },
              ],
            ]),
            [],
          );
          await expect(attempt).rejects.toThrow(StorageError);
          await attempt.catch((e: StorageError) => expect(e.code).toBe('BAD_WRITE_ENABLER'));
          refused++;
        }
        expect(refused).toBe(10);
        expectBytesEqual(await readAll(grid.open(node.readCap!)), data, 'unchanged');
      } finally {
        grid.close();
      }
    },
    TIMEOUT,
  );

  it(
    'with N - k servers stopped, the file still reads, and a new version still publishes',
    async () => {
      const grid = client();
      const data = pattern(300_000, 21);
      const node = await grid.createMutable(data, { format: 'mdmf' });
      grid.close();
      for (const s of servers.slice(3)) await s.stop();
      const after = client(8);
      try {
        expectBytesEqual(await readAll(after.open(node.readCap!)), data, 'with 3 of 10 servers');
        const next = pattern(1000, 22);
        await after.openMutable(node.cap).overwrite(next);
        expectBytesEqual(await readAll(after.open(node.readCap!)), next, 'new version on 3 servers');
      } finally {
        after.close();
      }
    },
    TIMEOUT,
  );
});

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c.slice());
  return Buffer.concat(parts);
}
