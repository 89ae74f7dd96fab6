/**
 * Upload and download through real storage servers (in-process, on disk): placement for
 * happiness, servers lost mid-upload, unhappy uploads, bit-flipping and stalled servers,
 * existing shares, byte ranges. Every download is compared byte for byte.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pattern } from '../harness/bytes.ts';
import { waitFor } from '../harness/wait.ts';
import { chkStorageIndex, formatCap, type ChkCap } from '../../core/caps/immutable.ts';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import { downloadImmutable, type DownloadOptions } from '../../core/grid/downloader.ts';
import { UploadUnhappinessError } from '../../core/grid/errors.ts';
import { type UploadOptions, uploadImmutable } from '../../core/grid/uploader.ts';
import { convergentKey } from '../../core/immutable/convergence.ts';
import type { ShareCorruptError, ShareUnavailableError } from '../../core/immutable/errors.ts';
import { encodeToShares } from '../../core/immutable/memory.ts';
import type { ChkParams } from '../../core/immutable/params.ts';
import { planChk } from '../../core/immutable/plan.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { equalBytes, utf8 } from '../../core/primitives/bytes.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { StorageError, type StorageServerApi } from '../../core/protocol/storage-api.ts';
import { immutableLayout } from '../../server/containers.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { flipBits, startGrid, type TestGrid } from './grid-harness.ts';

const SEG = 8 * 1024 * 3; // small segments: many of them in a small file
const P: ChkParams = { k: 3, happy: 7, n: 10, maxSegmentSize: SEG };
const SECRET = utf8('grid test convergence');
const CLIENT = new Uint8Array(32).fill(7);

let codec: Codec;
let grid: TestGrid | undefined;
beforeAll(async () => {
  codec = await loadCodec();
});
afterEach(async () => {
  await grid?.cleanup();
  grid = undefined;
});

function uploadOpts(servers: readonly StorageServerApi[], extra: Partial<UploadOptions> = {}): UploadOptions {
  return {
    servers,
    params: P,
    clientSecret: CLIENT,
    convergence: SECRET,
    tools: { backend: nodeCrypto, codec },
    maxInFlightBytesPerServer: 64 * 1024,
    coalesceBytes: 16 * 1024,
    ...extra,
  };
}

async function download(
  cap: ChkCap,
  servers: readonly StorageServerApi[],
  extra: Partial<DownloadOptions> = {},
) {
  const parts: Uint8Array[] = [];
  for await (const p of downloadImmutable(cap, {
    servers,
    tools: { backend: nodeCrypto, codec },
    ...extra,
  })) {
    parts.push(p.slice());
  }
  return Buffer.concat(parts);
}

async function sharesOn(servers: readonly StorageServerApi[], cap: ChkCap): Promise<number[][]> {
  const si = chkStorageIndex(cap.key);
  return Promise.all(servers.map(async (s) => [...(await s.listShares(si))].sort((a, b) => a - b)));
}

describe('grid upload and download (in-process servers on disk)', () => {
  it('sends each share of a small file with its close (one request a share), lists no server first, and it reads back', async () => {
    grid = await startGrid(10);
    const calls = { writeAndClose: 0, write: 0, close: 0, list: 0 };
    // The real connections, counted.
    const counted = grid.connections.map(
      (c) =>
        new Proxy(c, {
          get(target, prop) {
            const v = Reflect.get(target, prop);
            if (typeof v !== 'function') return v;
            return (...a: unknown[]) => {
              if (prop === 'writeShareAndClose') calls.writeAndClose++;
              if (prop === 'writeShare') calls.write++;
              if (prop === 'closeShare') calls.close++;
              if (prop === 'listShares') calls.list++;
              return v.apply(target, a);
            };
          },
        }),
    );
    const data = pattern(5_000, 41); // one segment: every share is one batch
    const r = await uploadImmutable(bytesSource(data), uploadOpts(counted));
    // Nor were the servers listed first: their allocate answers say what they hold.
    expect(calls).toEqual({ writeAndClose: 10, write: 0, close: 0, list: 0 });
    expect((await sharesOn(grid.connections, r.cap as ChkCap)).flat().sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    expect(equalBytes(await download(r.cap as ChkCap, grid.connections), data)).toBe(true);
    // A file of many batches per share keeps the writes and closes apart.
    const big = pattern(200_000, 42);
    Object.assign(calls, { writeAndClose: 0, write: 0, close: 0, list: 0 });
    const r2 = await uploadImmutable(bytesSource(big), uploadOpts(counted));
    expect(calls.writeAndClose).toBe(0);
    expect(calls.close).toBe(10);
    expect(equalBytes(await download(r2.cap as ChkCap, grid.connections), big)).toBe(true);
  });
  it('spreads (3,7,10) over 10 servers one share each, with the same cap as a local encode', async () => {
    grid = await startGrid(10);
    const data = pattern(300_000);
    const { cap, happiness } = await uploadUnder(uploadOpts(grid.connections), data);
    expect(happiness).toBe(10);
    const key = await convergentKey(bytesSource(data), P, SECRET, nodeCrypto);
    const local = await encodeToShares(bytesSource(data), P, key, { backend: nodeCrypto, codec });
    expect(formatCap(cap)).toBe(formatCap(local.cap));
    const held = await sharesOn(grid.connections, cap);
    expect(held.map((h) => h.length)).toEqual(Array(10).fill(1));
    expect(held.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Byte-identical to the local encoding, share by share.
    const si = chkStorageIndex(cap.key);
    for (const s of grid.connections) {
      const [sh] = await s.listShares(si);
      const bytes = await s.readShare(si, sh, 0, local.shares[sh].length + 10);
      expect(equalBytes(bytes, local.shares[sh])).toBe(true);
    }
  });

  it('downloads byte-equal from any 3 of the 10 servers, and reads byte ranges', async () => {
    grid = await startGrid(10);
    const data = pattern(200_000, 2);
    const { cap } = await uploadUnder(uploadOpts(grid.connections), data);
    for (const keep of [
      [0, 1, 2],
      [7, 8, 9],
      [1, 5, 9],
    ]) {
      const servers = keep.map((i) => grid!.connections[i]);
      expect(equalBytes(await download(cap, servers), data)).toBe(true);
    }
    const range = await download(cap, grid.connections.slice(2, 6), { offset: 50_001, length: 70_000 });
    expect(equalBytes(range, data.subarray(50_001, 120_001))).toBe(true);
    await expect(download(cap, grid.connections.slice(0, 2))).rejects.toMatchObject({
      code: 'NOT_ENOUGH_SHARES',
    });
  });

  it('fails with the counts when fewer than happy servers exist, and leaves no shares behind', async () => {
    grid = await startGrid(6);
    const data = pattern(100_000, 3);
    const err = await uploadUnder(uploadOpts(grid.connections), data).catch((e) => e);
    expect(err).toBeInstanceOf(UploadUnhappinessError);
    expect(err.counts).toMatchObject({ serversFound: 6, happy: 7, k: 3, n: 10 });
    expect(err.message).toMatch(/found only 6 storage server/);
    const key = await convergentKey(bytesSource(data), P, SECRET, nodeCrypto);
    const si = chkStorageIndex(key);
    for (const s of grid.connections) expect(await s.listShares(si)).toEqual([]);
  });

  it('survives losing servers mid-upload while happiness holds, and fails clearly when it does not', async () => {
    grid = await startGrid(10);
    const data = pattern(400_000, 4);
    let writes = 0;
    const lost: string[] = [];
    // Kill three servers after the upload has started writing.
    const killing = grid.connections.map((c, i) =>
      watchWrites(c, () => {
        writes++;
        if (writes === 20) for (const s of grid!.servers.slice(0, 3)) s.kill();
        void i;
      }),
    );
    const r = await uploadUnder(uploadOpts(killing, { onServerLost: (id) => lost.push(id) }), data);
    expect(lost.length).toBe(3);
    expect(r.happiness).toBe(7);
    expect([...r.written.keys()].sort()).toEqual(
      grid.connections
        .slice(3)
        .map((c) => c.serverId)
        .sort(),
    );
    expect(equalBytes(await download(r.cap as ChkCap, grid.connections.slice(3)), data)).toBe(true);

    await grid.cleanup();
    grid = await startGrid(10);
    writes = 0;
    const killingFour = grid.connections.map((c) =>
      watchWrites(c, () => {
        writes++;
        if (writes === 20) for (const s of grid!.servers.slice(0, 4)) s.kill();
      }),
    );
    const err = await uploadUnder(uploadOpts(killingFour), pattern(400_000, 5)).catch((e) => e);
    expect(err).toBeInstanceOf(UploadUnhappinessError);
    expect(err.counts.happiness).toBe(6);
    expect(err.message).toMatch(/happy=7/);
  });

  it('routes around servers that shed load (UNAVAILABLE on allocate) while happiness holds', async () => {
    // What a server at its upload limits answers (server/storage-server.ts allocate).
    grid = await startGrid(10);
    const busy = new Set(grid.connections.slice(0, 3).map((c) => c.serverId));
    const shedding = grid.connections.map((c) =>
      busy.has(c.serverId)
        ? intercept(c, 'allocateBuckets', () => {
            throw new StorageError('UNAVAILABLE', 'too many uploads in progress; retry later');
          })
        : c,
    );
    const data = pattern(200_000, 6);
    const r = await uploadUnder(uploadOpts(shedding), data);
    expect(r.happiness).toBe(7);
    expect([...r.written.keys()].some((id) => busy.has(id))).toBe(false);
    expect(equalBytes(await download(r.cap, grid.connections), data)).toBe(true);
  });

  it.each([2, 8])(
    'routes around servers that flip bits, and tells them (%i segments in flight)',
    async (depth) => {
      grid = await startGrid(10);
      const data = pattern(250_000, 6);
      const { cap } = await uploadUnder(uploadOpts(grid.connections), data);
      const si = chkStorageIndex((cap as ChkCap).key);
      // The servers holding shares 0 and 1 (the decoder's first choices) lie.
      const holders = await sharesOn(grid.connections, cap as ChkCap);
      const liars = new Set([
        holders.findIndex((h) => h.includes(0)),
        holders.findIndex((h) => h.includes(1)),
      ]);
      const servers = grid.connections.map((c, i) => (liars.has(i) ? flipBits(c) : c));
      const errors: (ShareCorruptError | ShareUnavailableError)[] = [];
      const got = await download(cap as ChkCap, servers, {
        onShareError: (e) => errors.push(e),
        tools: { backend: nodeCrypto, codec, depth },
      });
      expect(equalBytes(got, data)).toBe(true);
      expect(errors.map((e) => e.code).sort()).toEqual(['SHARE_CORRUPT', 'SHARE_CORRUPT']);
      // Each liar received a corruption advisory on disk, naming its share (the download does
      // not wait for it to be written).
      expect(liars.size).toBe(2);
      for (const i of liars) {
        const dir = path.join(grid.servers[i].dir, 'storage', 'corruption-advisories');
        const names = await waitFor(async () => (await fs.readdir(dir)).length > 0 && fs.readdir(dir), {
          what: `the corruption advisory of server ${i}`,
        });
        expect(names).toHaveLength(1);
        expect(await fs.readFile(path.join(dir, names[0]), 'utf8')).toContain(
          `immutable share ${holders[i][0]} of storage index ${base32Encode(si)}\n`,
        );
      }
    },
  );

  it.each([2, 4, 8])(
    'reads each needed share about once with %i segments in flight: sequential blocks never straddle read-ahead windows, nor are asked for twice',
    async (depth) => {
      grid = await startGrid(10);
      // 128 KiB segments: 43,691-byte blocks, which divide no power-of-two window.
      const params: ChkParams = { ...P, maxSegmentSize: 128 * 1024 };
      const data = pattern(6 * 1024 * 1024 + 5, 9);
      const { cap } = await uploadUnder(uploadOpts(grid.connections, { params }), data);
      let received = 0;
      const counting = grid.connections.map(
        (c): StorageServerApi =>
          new Proxy(c, {
            get(target, prop, receiver) {
              if (prop === 'readShare') {
                return async (...args: Parameters<StorageServerApi['readShare']>) => {
                  const bytes = await target.readShare(...args);
                  received += bytes.length;
                  return bytes;
                };
              }
              const v = Reflect.get(target, prop, receiver);
              return typeof v === 'function' ? v.bind(target) : v;
            },
          }),
      );
      const got = await download(cap as ChkCap, counting, { tools: { backend: nodeCrypto, codec, depth } });
      expect(equalBytes(got, data)).toBe(true);
      const plan = planChk(data.length, params);
      if (plan.kind !== 'chk') throw new Error('test file must be large enough for a CHK plan');
      const needed = 3 * plan.shareSize;
      // Read-ahead dropped when a block straddled two windows cost 11% more here; with 4 and 8
      // segments in flight, windows started by each waiting read and read-ahead from every
      // window served cost 2.5x and 6x (the decoder's reads run ahead of the read-ahead).
      expect(received).toBeGreaterThanOrEqual(needed * 0.95);
      expect(received).toBeLessThan(needed * 1.05);
    },
  );

  it.each([2, 8])(
    'moves away from a server that stalls mid-download (%i segments in flight)',
    async (depth) => {
      grid = await startGrid(10);
      const data = pattern(300_000, 7);
      const { cap } = await uploadUnder(uploadOpts(grid.connections), data);
      const holders = await sharesOn(grid.connections, cap as ChkCap);
      const slow = holders.findIndex((h) => h.includes(0));
      let reads = 0;
      const servers = grid.connections.map((c, i) =>
        i === slow
          ? watchReads(c, () => {
              if (++reads === 3) grid!.servers[i].blackhole();
            })
          : c,
      );
      const errors: string[] = [];
      const got = await download(cap as ChkCap, servers, {
        readTimeoutMs: 500,
        onShareError: (e) => errors.push(e.code),
        tools: { backend: nodeCrypto, codec, depth },
      });
      expect(equalBytes(got, data)).toBe(true);
      expect(errors).toEqual(['SHARE_UNAVAILABLE']);
    },
  );

  it('finds shares already on the grid and writes nothing new for a repeated upload', async () => {
    grid = await startGrid(10);
    const data = pattern(120_000, 8);
    const first = await uploadUnder(uploadOpts(grid.connections), data);
    const second = await uploadUnder(uploadOpts(grid.connections), data);
    expect(formatCap(second.cap)).toBe(formatCap(first.cap));
    expect(second.happiness).toBe(10);
    expect([...second.written.values()].flat()).toEqual([]);
  });

  it("renews leases on shares already in place for another client's upload of the same file", async () => {
    grid = await startGrid(10);
    const data = pattern(90_000, 9);
    const first = await uploadUnder(uploadOpts(grid.connections), data);
    await uploadUnder(uploadOpts(grid.connections, { clientSecret: new Uint8Array(32).fill(8) }), data);
    const si = base32Encode(chkStorageIndex(first.cap.key));
    let checked = 0;
    for (const s of grid.servers) {
      const dir = path.join(s.dir, 'storage', 'shares', si.slice(0, 2), si);
      for (const name of await fs.readdir(dir)) {
        const bytes = await fs.readFile(path.join(dir, name));
        expect(immutableLayout(bytes.subarray(0, 12), bytes.length).leaseCount, `share ${name}`).toBe(2);
        checked++;
      }
    }
    expect(checked).toBe(10);
  });

  it('keeps tiny files in a LIT cap without touching servers', async () => {
    const r = await uploadImmutable(bytesSource(utf8('hello')), uploadOpts([]));
    expect(formatCap(r.cap)).toBe('URI:LIT:nbswy3dp');
  });
});

function uploadUnder(opts: UploadOptions, data: Uint8Array) {
  return uploadImmutable(bytesSource(data), opts).then((r) => ({ ...r, cap: r.cap as ChkCap }));
}

/** `api`, calling `hook` before each share write. */
function watchWrites(api: StorageServerApi, hook: () => void): StorageServerApi {
  return intercept(api, 'writeShare', hook);
}
function watchReads(api: StorageServerApi, hook: () => void): StorageServerApi {
  return intercept(api, 'readShare', hook);
}
function intercept(
  api: StorageServerApi,
  method: keyof StorageServerApi,
  hook: () => void,
): StorageServerApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop !== method) return v.bind(target);
      return (...args: unknown[]) => {
        hook();
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
