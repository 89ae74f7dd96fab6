/**
 * Reading a mutable file while its owner publishes new versions (found by bench:load): every
 * read returns one whole version, old or new, and no share is reported corrupt for holding a
 * newer version than the one a reader mapped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grid, memoryServerListCache, readAll } from '../../core/client/index.ts';
import type { MutableNode } from '../../core/client/mutable-node.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { cleanup, startTestGrid, type TestGrid } from '../harness/grid.ts';

let grid: TestGrid;
let codec: Awaited<ReturnType<typeof loadCodec>>;
beforeAll(async () => {
  grid = await startTestGrid({ servers: 10 });
  codec = await loadCodec();
}, 60_000);
afterAll(async () => {
  await grid.close();
  cleanup();
});

const client = (b: number) =>
  new Grid({
    url: grid.relay.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec }),
    secrets: async () => ({ lease: new Uint8Array(32).fill(b), convergence: new Uint8Array(32) }),
  });
const version = (i: number) => Uint8Array.from({ length: 100_000 }, (_, j) => (j * 31 + i) & 0xff);

describe('a mutable file read while it is being written', () => {
  it('reads a whole version every time and files no corruption advisory', async () => {
    const writer = client(1);
    const reader = client(2);
    try {
      const node = (await writer.createMutable(version(0))) as MutableNode;
      let writing = true;
      const writes = (async () => {
        for (let i = 1; i <= 10; i++) {
          await node.overwrite(version(i));
        }
        writing = false;
      })();
      let reads = 0;
      while (writing || reads < 3) {
        const got = await readAll(reader.open(node.readCap!));
        expect(got.length).toBe(100_000);
        const i = (got[0] - 0 + 256) % 256; // version(i)[0] === i
        expect(
          Buffer.compare(Buffer.from(got), Buffer.from(version(i))),
          `read ${reads} is version ${i}, whole`,
        ).toBe(0);
        reads++;
      }
      await writes;
      expect(reads).toBeGreaterThanOrEqual(3);
      let advisories = 0;
      for (const s of grid.servers) {
        const dir = path.join(s.dir, 'storage', 'corruption-advisories');
        if (fs.existsSync(dir)) advisories += fs.readdirSync(dir).length;
      }
      expect(advisories).toBe(0);
    } finally {
      writer.close();
      reader.close();
    }
  }, 180_000);
});
