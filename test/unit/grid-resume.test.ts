/**
 * Resumable uploads through real storage servers (in-process, on disk): an upload whose
 * client goes away half way is run again and sends only what the servers do not hold; one
 * that loses servers part way tries again by itself and resumes; a random-key upload
 * resumes with its kept key; a cancelled one gives its buckets back. Bytes sent are counted
 * at the connection (every writeShare call), not taken from the uploader's own tally.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ChkCap, chkStorageIndex } from '../../core/caps/immutable.ts';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import { downloadImmutable } from '../../core/grid/downloader.ts';
import { UploadUnhappinessError } from '../../core/grid/errors.ts';
import { type UploadOptions, uploadImmutable } from '../../core/grid/uploader.ts';
import type { ChkParams } from '../../core/immutable/params.ts';
import { type ChkPlan, planChk } from '../../core/immutable/plan.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { utf8 } from '../../core/primitives/bytes.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import type { StorageConnection } from '../../core/protocol/client.ts';
import type { StorageServerApi } from '../../core/protocol/storage-api.ts';
import type { AesKey } from '../../core/types.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { startGrid, type TestGrid } from './grid-harness.ts';

const SEG = 8 * 1024 * 3;
const P: ChkParams = { k: 3, happy: 7, n: 10, maxSegmentSize: SEG };
const SECRET = utf8('grid resume convergence');
const CLIENT = new Uint8Array(32).fill(9);
const SIZE = 900_000;
const plan = planChk(SIZE, P) as ChkPlan;
const TOTAL = plan.shareSize * P.n;

let codec: Codec;
let grid: TestGrid | undefined;
beforeAll(async () => {
  codec = await loadCodec();
});
afterEach(async () => {
  await grid?.cleanup();
  grid = undefined;
});

/** Share bytes handed to writeShare on the connections `count` wraps, and a hook after each. */
class Counter {
  bytes = 0;
  wrap(api: StorageServerApi, after?: (total: number) => void): StorageServerApi {
    return new Proxy(api, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop !== 'writeShare') return v.bind(target);
        return (...args: Parameters<StorageServerApi['writeShare']>) => {
          this.bytes += args[4].length;
          const p = (v as StorageServerApi['writeShare']).apply(target, args);
          after?.(this.bytes);
          return p;
        };
      },
    });
  }
}

function opts(servers: UploadOptions['servers'], extra: Partial<UploadOptions> = {}): UploadOptions {
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

async function download(cap: ChkCap, servers: readonly StorageServerApi[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of downloadImmutable(cap, { servers, tools: { backend: nodeCrypto, codec } })) {
    parts.push(p.slice());
  }
  return Buffer.concat(parts);
}

/** Runs an upload on the servers' first connections and closes them all once `fraction` of the share bytes went out. */
async function interrupted(
  g: TestGrid,
  data: Uint8Array,
  fraction: number,
  extra: Partial<UploadOptions> = {},
) {
  const first = new Counter();
  let cut = false;
  const conns = g.servers.map((s) =>
    first.wrap(s.conn, (sent) => {
      if (!cut && sent >= fraction * TOTAL) {
        cut = true;
        // The client goes away: every connection closes under the upload.
        for (const c of g.servers) c.conn.close();
      }
    }),
  );
  const err = await uploadImmutable(bytesSource(data), opts(conns, extra)).catch((e) => e);
  expect(err).toBeInstanceOf(UploadUnhappinessError);
  return first.bytes;
}

async function reconnectAll(g: TestGrid): Promise<StorageConnection[]> {
  return Promise.all(g.servers.map((s) => s.connect()));
}

describe('resumable uploads', () => {
  it('run again after the client went away half way, an upload sends only what the servers lack', async () => {
    grid = await startGrid(10);
    const data = pattern(SIZE, 11);
    const firstRun = await interrupted(grid, data, 0.5);
    expect(firstRun).toBeGreaterThanOrEqual(0.5 * TOTAL);
    expect(firstRun).toBeLessThan(0.7 * TOTAL);

    const second = new Counter();
    const conns = await reconnectAll(grid);
    const r = await uploadImmutable(bytesSource(data), opts(conns.map((c) => second.wrap(c))));
    // Every share byte was either sent now or held already, once.
    expect(r.sentBytes).toBe(second.bytes);
    expect(r.sentBytes + r.skippedBytes).toBe(TOTAL);
    // What the first run sent is not sent again (but for writes cut off in flight).
    expect(second.bytes).toBeLessThan(TOTAL - 0.4 * TOTAL);
    expect(second.bytes).toBeGreaterThanOrEqual(TOTAL - firstRun);
    expect(r.attempts).toBe(1);
    expect(r.happiness).toBe(10);
    expectBytesEqual(await download(r.cap as ChkCap, conns.slice(4)), data);
    for (const c of conns) c.close();
  });

  it('an upload that loses servers part way tries again by itself and resumes what they hold', async () => {
    grid = await startGrid(10);
    const data = pattern(SIZE, 12);
    const g = grid;
    const all = new Counter();
    let cut = false;
    let calls = 0;
    const retries: number[] = [];
    const servers = async () => {
      calls++;
      if (calls === 1) {
        return g.servers.map((s, i) =>
          all.wrap(s.conn, (sent) => {
            // Four of the ten drop out a third of the way: below happy=7.
            if (!cut && sent >= TOTAL / 3 && i < 4) {
              cut = true;
              for (const x of g.servers.slice(0, 4)) x.kill();
            }
          }),
        );
      }
      // They are back (the same servers, new connections).
      return (await reconnectAll(g)).map((c) => all.wrap(c));
    };
    const r = await uploadImmutable(
      bytesSource(data),
      opts(servers, {
        retries: 3,
        retryDelaysMs: [20],
        onRetry: (x) => retries.push(x.attempt),
      }),
    );
    expect(r.attempts).toBe(2);
    expect(retries).toEqual([2]);
    expect(r.happiness).toBe(10);
    expect(r.sentBytes).toBe(all.bytes);
    // Only writes in flight to the lost servers when they dropped are sent twice.
    expect(all.bytes).toBeLessThanOrEqual(TOTAL + 4 * 64 * 1024 + 4 * 16 * 1024);
    expect(r.skippedBytes).toBeGreaterThan(TOTAL / 4);
    const si = chkStorageIndex((r.cap as ChkCap).key);
    for (const s of g.servers) expect(await s.server.listImmutable(si)).toHaveLength(1);
  });

  it('a random-key upload resumes with the key it kept', async () => {
    grid = await startGrid(10);
    const data = pattern(SIZE, 13);
    let key: AesKey | undefined;
    const onKey = (k: AesKey) => {
      key = k;
    };
    await interrupted(grid, data, 0.6, { convergence: null, onKey });
    expect(key).toBeDefined();
    const second = new Counter();
    const conns = await reconnectAll(grid);
    const r = await uploadImmutable(
      bytesSource(data),
      opts(
        conns.map((c) => second.wrap(c)),
        { convergence: null, key },
      ),
    );
    expect((r.cap as ChkCap).key).toEqual(key);
    expect(second.bytes).toBeLessThan(0.5 * TOTAL);
    expectBytesEqual(await download(r.cap as ChkCap, conns), data);
  });

  it.each([
    // The key's pass reads the whole (small) file at once; the encoder reads segments.
    ['the convergent key pass', (_offset: number, length: number) => length === SIZE],
    ['the encoding pass', (offset: number, length: number) => length < SIZE && offset > 0],
  ] as const)(
    'a cancel during %s ends the upload at once, even with a read that never settles',
    async (_, stalls) => {
      grid = await startGrid(10);
      const data = pattern(SIZE, 15);
      const ctl = new AbortController();
      let stalled = false;
      // One read never settles (as a browser's stalled Blob read): the cancel must not wait for it.
      const source = {
        size: SIZE,
        read(offset: number, length: number) {
          if (stalled || !stalls(offset, length)) return bytesSource(data).read(offset, length);
          stalled = true;
          setTimeout(() => ctl.abort(), 20);
          return new Promise<Uint8Array>(() => {});
        },
      };
      await expect(
        uploadImmutable(source, opts(grid.connections, { signal: ctl.signal })),
      ).rejects.toMatchObject({
        code: 'CANCELLED',
      });
      expect(stalled).toBe(true);
    },
  );

  it('a cancelled upload gives its buckets back: running it again sends everything', async () => {
    grid = await startGrid(10);
    const data = pattern(SIZE, 14);
    const ctl = new AbortController();
    const first = new Counter();
    const conns = grid.servers.map((s) =>
      first.wrap(s.conn, (sent) => {
        if (sent >= TOTAL / 2) ctl.abort();
      }),
    );
    await expect(
      uploadImmutable(bytesSource(data), opts(conns, { signal: ctl.signal })),
    ).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    const second = new Counter();
    const r = await uploadImmutable(bytesSource(data), opts(grid.connections.map((c) => second.wrap(c))));
    expect(r.skippedBytes).toBe(0);
    expect(second.bytes).toBe(TOTAL);
  });
});
