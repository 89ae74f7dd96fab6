/**
 * Reproduction (not a test the suite runs): reading a mutable file while its owner publishes
 * a new version fails with NOT_ENOUGH_SHARES ("need 3 good shares, have 0 (failed: …all…)"),
 * and the reader files a corruption advisory against every share it gave up on, though no
 * share is corrupt. Found by `npm run bench:load` (mread of another client's file while it
 * was being written: 4-7 failures in ~140 reads per 60 s run).
 *
 *   npx tsx test/repro/mutable-read-during-write.ts
 *
 * Exits 1 when it reproduces. The mechanism, shown step by step first: MutableNode.read()
 * maps the servers (reading each share's head, which names version N), then fetches blocks
 * of version N; a publish in between has replaced every share with version N+1, so every
 * block fails its hash check against N's root. Tahoe's download_best_version retries once
 * with a fresh servermap on NotEnoughSharesError (mutable/filenode.py, _maybe_retry); here
 * read() does not (core/client/mutable-node.ts), and retrieve reports each share as corrupt
 * (core/mutable/retrieve.ts, adviseCorruptShare).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Grid, memoryServerListCache, readAll } from '../../core/client/index.ts';
import type { MutableNode } from '../../core/client/mutable-node.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { retrieveVersion } from '../../core/mutable/retrieve.ts';
import { mapServers } from '../../core/mutable/servermap.ts';
import { parseCapability } from '../../core/caps/index.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { cleanup, startTestGrid } from '../harness/grid.ts';

const codec = await loadCodec();
const grid = await startTestGrid({ servers: 10 });
const client = (b: number) =>
  new Grid({
    url: grid.relay.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec }),
    secrets: async () => ({ lease: new Uint8Array(32).fill(b), convergence: new Uint8Array(32) }),
  });
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
let reproduced = false;

try {
  const writer = client(1);
  const reader = client(2);
  const node = (await writer.createMutable(bytes(100_000, 1))) as MutableNode;

  // 1. Step by step: map, then a publish, then the blocks of the version the map found.
  const cap = parseCapability(node.readCap!);
  if (cap.kind !== 'ssk-read') throw new Error('expected a read cap');
  const servers = await reader.connections.requireServers();
  const map = await mapServers(node.storageIndex, servers, cap.fingerprint);
  const version = map.newestRecoverable()!;
  await node.overwrite(bytes(100_000, 2));
  try {
    for await (const _ of retrieveVersion(node.storageIndex, version, {
      readKey: cap.readKey,
      tools: { backend: nodeCrypto, codec },
    })) {
    }
    console.log('step by step: the old version was still readable (not reproduced)');
  } catch (err) {
    reproduced = true;
    console.log(`step by step: ${(err as { code?: string }).code}: ${(err as Error).message}`);
  }

  // 2. Through the public API: reads racing overwrites. Tahoe's behaviour would be: every read
  // returns the old or the new contents.
  const failures: Record<string, number> = {};
  let ok = 0;
  let writing = true;
  const writes = (async () => {
    for (let i = 0; i < 15; i++) await node.overwrite(bytes(100_000, 10 + i));
    writing = false;
  })();
  while (writing) {
    try {
      await readAll(reader.open(node.readCap!));
      ok++;
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'Error';
      failures[code] = (failures[code] ?? 0) + 1;
    }
  }
  await writes;
  console.log(`reads racing 15 overwrites: ${ok} ok, failed: ${JSON.stringify(failures)}`);
  if (Object.keys(failures).length > 0) reproduced = true;

  // 3. What the servers were told: corruption advisories, though nothing is corrupt.
  let advisories = 0;
  for (const s of grid.servers) {
    const dir = path.join(s.dir, 'storage', 'corruption-advisories');
    if (fs.existsSync(dir)) advisories += fs.readdirSync(dir).length;
  }
  console.log(`corruption advisories filed with the servers: ${advisories}`);
  writer.close();
  reader.close();
} finally {
  await grid.close();
  cleanup();
}
console.log(reproduced ? 'REPRODUCED' : 'not reproduced');
process.exit(reproduced ? 1 : 0);
