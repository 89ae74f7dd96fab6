/**
 * `npx tsx bench/small-shares.ts`: what one storage server spends per small share, the unit
 * of `cp -r`'s cost (bench:tree). One `cairn server` process (bundled, as `cairn grid` runs
 * them), SHARES shares of SIZE bytes, each of its own storage index, 8 at once, after 50 to
 * warm up: server CPU per share (user and system). Modes: plain (version, list, allocate,
 * write, close: what a client sent per share before version answers were reused and writes
 * carried their close) and combined (list, allocate, write that closes).
 * Options: --shares 500, --size 12000, --mode plain|combined|put, --strace (syscall counts of the
 * server, by strace -c), --prof (a V8 CPU profile of the server in /tmp/prof/ss). Mode put:
 * `put` requests of --batch 64 shares (each its own storage index), two in flight (cp -r's way).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectStorageServer } from '../core/protocol/client.ts';
import { asServerId, asShareNum, asStorageIndex } from '../core/types.ts';
import { cleanup, spawnNode, spawnServer, tempDir } from '../test/harness/grid.ts';
import { bundleServer } from '../cli/server-bundle.ts';
import { procCpu } from './proc.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const N = Number(opt('shares', '500'));
const SIZE = Number(opt('size', '12000'));
const MODE = opt('mode', 'plain');

const server = args.includes('--prof')
  ? await (async () => {
      const ready = /Storage server (v0-[a-z2-7]{52}) ready(?: at (ws:\/\/\S+))?/;
      const { child, match } = await spawnNode(
        [
          '--cpu-prof',
          '--cpu-prof-dir=/tmp/prof/ss',
          await bundleServer(),
          '--dir',
          tempDir(),
          '--port',
          '0',
        ],
        ready,
      );
      return {
        serverId: asServerId(match[1]),
        url: match[2],
        process: child,
        stop: async () => {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        },
      };
    })()
  : await spawnServer({ bundled: true });
const pid = server.process.pid!;
const conn = await connectStorageServer(server.url!, server.serverId);
const data = randomBytes(SIZE);
const sh = asShareNum(0);
const BATCH = Number(opt('batch', '64'));
/** A put of BATCH files of one share each (what cp -r sends a server per batch). */
const putBatch = async () => {
  await conn.putShares!(
    Array.from({ length: BATCH }, () => ({
      si: asStorageIndex(randomBytes(16)),
      secrets: { renew: randomBytes(32), cancel: randomBytes(32), upload: randomBytes(32) },
      size: SIZE,
      shares: new Map([[sh, data]]),
    })),
  );
};
const one = async () => {
  const si = asStorageIndex(randomBytes(16));
  const secrets = { renew: randomBytes(32), cancel: randomBytes(32), upload: randomBytes(32) };
  if (MODE === 'plain') await conn.getVersion();
  await conn.listShares(si);
  await conn.allocateBuckets(si, secrets, [sh], SIZE);
  if (MODE === 'combined') {
    await conn.writeShareAndClose?.(si, sh, secrets.upload, 0, data);
  } else {
    await conn.writeShare(si, sh, secrets.upload, 0, data);
    await conn.closeShare(si, sh, secrets.upload);
  }
};
if (MODE === 'put') await putBatch();
else for (let i = 0; i < 50; i++) await one(); // warm up
const tracer = args.includes('--strace')
  ? spawn('strace', ['-c', '-f', '-p', String(pid), '-o', '/tmp/small-shares.strace'], { stdio: 'ignore' })
  : null;
if (tracer) await new Promise((r) => setTimeout(r, 1000));
const split = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(f[11]) / 100, Number(f[12]) / 100];
};
const split0 = split();
const cpu0 = procCpu(pid) ?? 0;
const t0 = performance.now();
let next = 0;
if (MODE === 'put') {
  // Two batches in flight, as cp -r sends them.
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      for (; next + BATCH <= N; ) {
        next += BATCH;
        await putBatch();
      }
    }),
  );
} else {
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next++ < N) await one();
    }),
  );
}
const s = (performance.now() - t0) / 1000;
const cpu = (procCpu(pid) ?? 0) - cpu0;
const [u1, s1] = split();
console.log(
  `user ${(((u1 - split0[0]) / N) * 1000).toFixed(2)} ms/share, sys ${(((s1 - split0[1]) / N) * 1000).toFixed(2)} ms/share`,
);
console.log(
  `${N} shares of ${SIZE} B (${MODE}): ${s.toFixed(2)} s, ${(N / s).toFixed(0)} shares/s, server CPU ${((cpu / N) * 1000).toFixed(2)} ms/share`,
);
if (tracer) {
  tracer.kill('SIGINT');
  await new Promise((r) => tracer.once('exit', r));
  console.log(readFileSync('/tmp/small-shares.strace', 'utf8'));
}
conn.close();
await server.stop();
cleanup();
