/**
 * What a download asks the servers for: share bytes read against those it needs, and MB/s,
 * with 2, 4 and 8 segments in flight. Through `cairn grid` (10 server processes); the file is
 * put with the CLI and read in this process (core's downloadImmutable, which counts reads).
 * A reader that asks for the same bytes twice shows here as a ratio above ~1.01.
 *
 *   npx tsx bench/reads.ts [--sizes 64,6] [--depths 2,4,8]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseCapability } from '../core/caps/index.ts';
import type { ChkCap } from '../core/caps/immutable.ts';
import { GridConnections } from '../core/client/connections.ts';
import { loadCodec } from '../core/codec/index.ts';
import { downloadImmutable } from '../core/grid/downloader.ts';
import { nodeCrypto } from '../core/primitives/crypto-node.ts';
import { MiB, makeFile, startGrid, timedCairn } from './cli-grid.ts';

const args = process.argv.slice(2);
const list = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return (i >= 0 ? args[i + 1] : dflt).split(',').map(Number);
};
const sizes = list('--sizes', '64,6');
const depths = list('--depths', '2,4,8');

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-reads-'));
  const env = { ...process.env, CAIRN_HOME: path.join(tmp, 'home') };
  const grid = await startGrid(path.join(tmp, 'grid'), env);
  try {
    const connections = new GridConnections({ url: grid.url });
    const servers = await connections.connected();
    const codec = await loadCodec();
    console.log(
      'share bytes read / file bytes (k whole shares, hash trees included, come to ~1.005x), MB/s; each depth twice, in turns',
    );
    for (const size of sizes) {
      const file = path.join(tmp, `file-${size}`);
      await makeFile(file, size * MiB);
      const put = await timedCairn(['put', file, '--grid', grid.url], env, grid.servers);
      if (put.code !== 0) throw new Error(`cairn put failed: ${put.stderr}`);
      const cap = parseCapability(put.stdout.trim()) as ChkCap;
      for (const depth of [...depths, ...depths]) {
        let read = 0;
        let got = 0;
        const t = performance.now();
        for await (const chunk of downloadImmutable(cap, {
          servers,
          tools: { backend: nodeCrypto, codec, depth },
          onRead: (e) => {
            read += e.bytes;
          },
        }))
          got += chunk.length;
        const seconds = (performance.now() - t) / 1000;
        if (got !== size * MiB) throw new Error(`read ${got} bytes of ${size * MiB}`);
        console.log(
          `${size} MiB, ${depth} in flight: ${(read / got).toFixed(3)}x, ${(got / 1e6 / seconds).toFixed(1)} MB/s`,
        );
      }
    }
    connections.close();
  } finally {
    await grid.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
