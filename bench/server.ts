/**
 * `npm run bench:server`: one `cairn server` process on 127.0.0.1, driven by the client
 * library from this process. For each write size it uploads 256 MiB into one share
 * (pipelined, like an uploader) and reads it back, then prints MB/s, the server's CPU
 * seconds per GB moved, and its peak RSS. Same-run baseline: this process writing and
 * reading the same bytes in the same chunk sizes straight to a file (no network, no
 * protocol), so the ratio shows what the protocol and server cost on top of the disk.
 * Also one pass through the relay (relay-only server). 2 shared cores: expect ±20% noise.
 *
 * Options: --mib 256, --sizes 44,512 (KiB per write).
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { connectStorageServer, type StorageConnection } from '../core/protocol/client.ts';
import { relayRoute } from '../core/protocol/announcement.ts';
import { asShareNum, asStorageIndex } from '../core/types.ts';
import { cleanup, spawnRelay, spawnServer, tempDir } from '../test/harness/grid.ts';
import { peakBytes, procCpu } from './proc.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const MiB = 2 ** 20;
const total = Number(opt('mib', '256')) * MiB;
const sizes = opt('sizes', '44,512')
  .split(',')
  .map((k) => Number(k) * 1024);
const PIPELINE = 64;

interface Pass {
  writeMBs: number;
  readMBs: number;
  serverCpuPerGB: number;
}

async function protocolPass(conn: StorageConnection, chunk: number, pid: number): Promise<Pass> {
  const data = randomFillSync(new Uint8Array(chunk));
  const si = asStorageIndex(randomFillSync(new Uint8Array(16)));
  const secrets = {
    renew: new Uint8Array(32),
    cancel: new Uint8Array(32),
    upload: randomFillSync(new Uint8Array(20)),
  };
  const sh = asShareNum(0);
  const n = Math.floor(total / chunk);
  await conn.allocateBuckets(si, secrets, [sh], n * chunk);
  const cpu0 = procCpu(pid) ?? 0;
  let t = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(conn.writeShare(si, sh, secrets.upload, i * chunk, data));
    if (pending.length >= PIPELINE) await pending.shift();
  }
  await Promise.all(pending);
  await conn.closeShare(si, sh, secrets.upload);
  const writeS = (performance.now() - t) / 1000;
  t = performance.now();
  const reads: Promise<Uint8Array>[] = [];
  for (let i = 0; i < n; i++) {
    reads.push(conn.readShare(si, sh, i * chunk, chunk));
    if (reads.length >= PIPELINE) await reads.shift();
  }
  await Promise.all(reads);
  const readS = (performance.now() - t) / 1000;
  const moved = 2 * n * chunk;
  return {
    writeMBs: (n * chunk) / 1e6 / writeS,
    readMBs: (n * chunk) / 1e6 / readS,
    serverCpuPerGB: ((procCpu(pid) ?? 0) - cpu0) / (moved / 1e9),
  };
}

async function filePass(dir: string, chunk: number): Promise<{ writeMBs: number; readMBs: number }> {
  const data = randomFillSync(new Uint8Array(chunk));
  const n = Math.floor(total / chunk);
  const file = path.join(dir, `baseline-${chunk}`);
  const h = await fs.open(file, 'w+');
  let t = performance.now();
  for (let i = 0; i < n; i++) await h.write(data, 0, chunk, i * chunk);
  await h.sync();
  const writeS = (performance.now() - t) / 1000;
  const buf = new Uint8Array(chunk);
  t = performance.now();
  for (let i = 0; i < n; i++) await h.read(buf, 0, chunk, i * chunk);
  const readS = (performance.now() - t) / 1000;
  await h.close();
  await fs.rm(file);
  return { writeMBs: (n * chunk) / 1e6 / writeS, readMBs: (n * chunk) / 1e6 / readS };
}

const fmt = (x: number, w = 8) => x.toFixed(0).padStart(w);
console.log(
  `server bench: ${total / MiB} MiB per pass into one share, ${PIPELINE} requests in flight, 2 shared cores`,
);
console.log(
  '  write KiB   proto write MB/s  read MB/s   file write MB/s  read MB/s   write/file  server CPU s/GB',
);
const scratch = tempDir('cairn-bench-server-');
const server = await spawnServer({});
const pid = server.process.pid!;
const conn = await connectStorageServer(server.url!, server.serverId);
for (const chunk of sizes) {
  const p = await protocolPass(conn, chunk, pid);
  const f = await filePass(scratch, chunk);
  console.log(
    `  ${fmt(chunk / 1024, 9)}   ${fmt(p.writeMBs, 16)} ${fmt(p.readMBs, 10)}   ${fmt(f.writeMBs, 15)} ${fmt(f.readMBs, 10)}   ${(p.writeMBs / f.writeMBs).toFixed(2).padStart(10)} ${p.serverCpuPerGB.toFixed(2).padStart(16)}`,
  );
}
conn.close();
console.log(`  server peak RSS: ${(peakBytes(pid) / 2 ** 20).toFixed(0)} MB`);
await server.stop();

const relay = await spawnRelay();
const hidden = await spawnServer({ port: null, relayUrl: relay.url });
await new Promise((r) => setTimeout(r, 500));
const viaRelay = await connectStorageServer(relayRoute(relay.url, hidden.serverId), hidden.serverId);
const r = await protocolPass(viaRelay, sizes[0], hidden.process.pid!);
console.log(
  `  through the relay (${sizes[0] / 1024} KiB writes): write ${fmt(r.writeMBs, 0)} MB/s, read ${fmt(r.readMBs, 0)} MB/s; relay peak RSS ${(peakBytes(relay.process.pid!) / 2 ** 20).toFixed(0)} MB`,
);
viaRelay.close();
await hidden.stop();
await relay.stop();
cleanup();
