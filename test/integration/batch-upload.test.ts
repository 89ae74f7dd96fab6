/**
 * Small files uploaded together (Grid.uploadMany, core/grid/batch-uploader.ts) through
 * servers on 127.0.0.1: one `put` per server for the batch; the caps are the ones a file by
 * file upload gives; files the batch cannot place happily (servers that refuse) are uploaded
 * the usual way and still come back whole.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grid, memoryServerListCache, readAll } from '../../core/client/index.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { DEFAULT_CHK_PARAMS } from '../../core/immutable/params.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, startTestGrid, type TestGrid } from '../harness/grid.ts';

let codec: Awaited<ReturnType<typeof loadCodec>>;
const grids: TestGrid[] = [];
const clients: Grid[] = [];

function client(grid: TestGrid, secret: number): Grid {
  const g = new Grid({
    url: grid.relay.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec }),
    secrets: async () => ({ lease: new Uint8Array(32).fill(secret), convergence: new Uint8Array(32) }),
  });
  clients.push(g);
  return g;
}

/** A grid whose servers' log lines are kept, to count the requests they served. */
async function loggedGrid(servers: number, opts: (i: number) => object = () => ({})) {
  const lines: string[][] = Array.from({ length: servers }, () => []);
  const grid = await startTestGrid({
    servers,
    serverOptions: (i) => ({ log: (line: string) => lines[i].push(line), ...opts(i) }),
  });
  grids.push(grid);
  return { grid, lines };
}

const count = (lines: string[], re: RegExp) => lines.filter((l) => re.test(l)).length;

beforeAll(async () => {
  codec = await loadCodec();
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const g of grids) await g.close();
  cleanup();
});

describe('uploadMany', () => {
  it('stores a batch with one put per server; caps as file by file; read back byte-equal', async () => {
    const { grid, lines } = await loggedGrid(10);
    const files = [
      ...Array.from({ length: 40 }, () => randomBytes(randomInt(100, 60_000))),
      randomBytes(20), // a literal: no server
      randomBytes(1024 * 1024), // shares too big for a batch: uploaded on its own
    ];
    const g = client(grid, 1);
    const results = await g.uploadMany(
      files.map((f) => bytesSource(f)),
      { params: DEFAULT_CHK_PARAMS },
    );
    expect(results).toHaveLength(files.length);
    expect(results[40].node.cap).toMatch(/^URI:LIT:/);
    for (const r of results.slice(0, 40)) expect(r.happiness).toBe(10);
    // Each server: one put for the 40 small files, and the big file's own allocate.
    for (const l of lines) {
      expect(count(l, /^put files=4\d? stored=/)).toBe(1);
      expect(count(l, /^allocate /)).toBe(1);
    }
    const puts = lines.flat().filter((l) => l.startsWith('put '));
    expect(puts.reduce((n, l) => n + Number(/stored=(\d+)/.exec(l)![1]), 0)).toBe(400);

    // Another client reads every file back; a file by file upload gives the same caps.
    const reader = client(grid, 2);
    for (const [i, f] of files.entries()) {
      expectBytesEqual(await readAll(reader.open(results[i].node.cap)), f);
    }
    for (const i of [0, 17, 39, 41]) {
      expect((await reader.upload(bytesSource(files[i]), { params: DEFAULT_CHK_PARAMS })).node.cap).toBe(
        results[i].node.cap,
      );
    }
    // Sent again: the servers hold every share, and say so; nothing new is stored.
    const again = await reader.uploadMany(
      files.slice(0, 40).map((f) => bytesSource(f)),
      { params: DEFAULT_CHK_PARAMS },
    );
    expect(again.map((r) => r.node.cap)).toEqual(results.slice(0, 40).map((r) => r.node.cap));
    expect(lines.flat().filter((l) => /^put files=40 stored=0 have=40$/.test(l))).toHaveLength(10);
  }, 60_000);

  it('files the batch leaves unhappy are uploaded the usual way, around the servers that refused', async () => {
    // Six of 14 servers take no uploads at all. A file's first ten servers (where the batch
    // places its shares) hold two to six of them: most files miss happiness (7) in the batch
    // and go the usual way, which places their shares on the other servers.
    const { grid, lines } = await loggedGrid(14, (i) => (i < 6 ? { maxPendingUploads: 0 } : {}));
    const files = Array.from({ length: 12 }, () => randomBytes(randomInt(1000, 30_000)));
    const g = client(grid, 3);
    const results = await g.uploadMany(
      files.map((f) => bytesSource(f)),
      { params: DEFAULT_CHK_PARAMS },
    );
    expect(
      lines
        .slice(0, 6)
        .flat()
        .filter((l) => /^put .* stored=0 .*refused=/.test(l)).length,
    ).toBeGreaterThan(0);
    // Some went the usual way: allocates on the servers that take uploads, beside the puts.
    expect(count(lines.slice(6).flat(), /^allocate /)).toBeGreaterThan(0);
    for (const r of results) expect(r.happiness).toBeGreaterThanOrEqual(7);
    const reader = client(grid, 4);
    for (const [i, f] of files.entries())
      expectBytesEqual(await readAll(reader.open(results[i].node.cap)), f);
  }, 60_000);
});
