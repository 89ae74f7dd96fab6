/**
 * One client process of `npm run bench:load` (bench/load.ts forks it): runs its share of the
 * client loops, each a core/client Grid with its own connections, and reports to the parent
 * over IPC. Files stored by any client are announced to every process, so a download may
 * fetch a file another process uploaded. Contents come from seeds (load-content.ts), so
 * every download is compared byte for byte without keeping the files in memory.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  Grid,
  type GridClientOptions,
  memoryServerListCache,
  type MutableFileNode,
  readAll,
} from '../core/client/index.ts';
import { loadCodec } from '../core/codec/index.ts';
import { DEFAULT_CHK_PARAMS } from '../core/immutable/params.ts';
import { bytesSource } from '../core/immutable/source.ts';
import { nodeCrypto } from '../core/primitives/crypto-node.ts';
import { ContentChecker, contentOf, sha256Hex } from './load-content.ts';
import {
  type FinalReport,
  type FromWorker,
  type ImmutableRecord,
  type MutableRecord,
  type OpName,
  OPS,
  type OpStats,
  type ToWorker,
} from './load-types.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Each client holds at most this many mutable files of its own. */
const MUTABLES_PER_CLIENT = 3;
/** Op weights out of 100. */
const WEIGHTS: Array<[OpName, number]> = [
  ['upload', 28],
  ['reupload', 3],
  ['download', 31],
  ['mcreate', 4],
  ['moverwrite', 10],
  ['mmodify', 12],
  ['mread', 12],
];

const send = (m: FromWorker) => process.send?.(m);

/** xorshift32: a small seeded generator (ops and sizes per client). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

// ---- shared state of this process ------------------------------------------------------

const immutables: ImmutableRecord[] = [];
const mutables = new Map<string, MutableRecord>();
interface Owned {
  rec: MutableRecord;
  node: MutableFileNode;
  /** The contents of the last version published successfully. */
  current: Uint8Array;
  /** Hashes the file may hold now: the current one, plus any write that failed half way. */
  possible: Set<string>;
}
const owned = new Map<number, Owned[]>();
const ownedImmutables = new Map<number, ImmutableRecord[]>();

const ops = Object.fromEntries(
  OPS.map((o): [OpName, OpStats] => [o, { ok: 0, errors: {}, latencies: [], bytes: 0 }]),
) as Record<OpName, OpStats>;
const samples: Record<string, string[]> = {};
let verified = 0;
let running = 0;
let progressOk = 0;
let progressErr = 0;

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: string };
  if (typeof e?.code === 'string') return e.code;
  return e?.name ?? 'Error';
}

function noteError(op: OpName, err: unknown): void {
  const code = errorCode(err);
  ops[op].errors[code] = (ops[op].errors[code] ?? 0) + 1;
  samples[`${op}:${code}`] ??= [];
  const list = samples[`${op}:${code}`];
  if (list.length < 5) {
    let text = (err as Error)?.message ?? String(err);
    // The causes too (a fetch's "fetch failed" says nothing without them).
    let cause = (err as { cause?: unknown }).cause;
    for (let depth = 0; cause && depth < 4; depth++) {
      const c = cause as { message?: string; code?: string; cause?: unknown };
      text += ` (cause: ${c.code ? `${c.code} ` : ''}${c.message ?? String(cause)})`;
      cause = c.cause;
    }
    list.push(text.slice(0, 500));
  }
}

/** The same error (same code) with what the operation was about in front of its message. */
function annotate(err: unknown, what: string): Error {
  const e = err as Error & { code?: string };
  return Object.assign(new Error(`${what}: ${e?.message ?? String(err)}`), { code: errorCode(err) });
}

class Mismatch extends Error {
  readonly code = 'MISMATCH';
}

function pickSize(r: () => number): number {
  const x = r();
  // One upload in ten is literal-sized (0..55 bytes: the data lives in the cap).
  if (x < 0.1) return Math.floor(r() * 56);
  // The rest log-uniform over 1 KiB .. 4 MiB.
  return Math.min(4 * MiB, Math.floor(2 ** (10 + 12 * r())));
}

function mutableSize(r: () => number): number {
  // 16 B .. 256 KiB, log-uniform (a version is built whole in memory, N/k times over).
  return Math.floor(2 ** (4 + 14 * r()));
}

// ---- one client ---------------------------------------------------------------------------

async function clientLoop(
  id: number,
  relayUrl: string,
  tools: GridClientOptions['tools'],
  seed: number,
  deadline: number,
): Promise<void> {
  const r = rng(seed * 7919 + id * 104729 + 1);
  const lease = new Uint8Array(32).map(() => Math.floor(r() * 256));
  const convergence = new Uint8Array(32).map(() => Math.floor(r() * 256));
  const grid = new Grid({
    url: relayUrl,
    cache: memoryServerListCache(),
    tools,
    secrets: async () => ({ lease, convergence }),
  });
  const mine: Owned[] = [];
  owned.set(id, mine);
  const myFiles: ImmutableRecord[] = [];
  ownedImmutables.set(id, myFiles);
  let counter = 0;
  const nextSeed = () => id * 1_000_000 + ++counter;

  const pickOp = (): OpName => {
    let x = r() * 100;
    for (const [op, w] of WEIGHTS) {
      x -= w;
      if (x < 0) return op;
    }
    return 'download';
  };

  try {
    while (Date.now() < deadline) {
      let op = pickOp();
      if (op === 'download' && immutables.length === 0) op = 'upload';
      if (op === 'reupload' && myFiles.length === 0) op = 'upload';
      if ((op === 'moverwrite' || op === 'mmodify') && mine.length === 0) op = 'mcreate';
      if (op === 'mcreate' && mine.length >= MUTABLES_PER_CLIENT) op = 'moverwrite';
      if (op === 'mread' && mutables.size === 0) op = 'mcreate';
      const t0 = performance.now();
      running++;
      try {
        const bytes = await runOp(op);
        ops[op].ok++;
        ops[op].bytes += bytes;
        progressOk++;
      } catch (err) {
        noteError(op, err);
        progressErr++;
      } finally {
        running--;
        ops[op].latencies.push(performance.now() - t0);
      }
    }
  } finally {
    grid.close();
  }

  async function runOp(op: OpName): Promise<number> {
    switch (op) {
      case 'upload': {
        const size = pickSize(r);
        const s = nextSeed();
        const { node } = await grid.upload(bytesSource(contentOf(s, size)), { params: DEFAULT_CHK_PARAMS });
        const rec: ImmutableRecord = { kind: 'imm', cap: node.cap, seed: s, size, owner: id };
        immutables.push(rec);
        myFiles.push(rec);
        send({ type: 'file', rec });
        return size;
      }
      case 'reupload': {
        // The same bytes again (same client, same convergence secret): the same cap, and
        // the servers answer that they already hold the shares.
        const rec = myFiles[Math.floor(r() * myFiles.length)];
        const { node } = await grid.upload(bytesSource(contentOf(rec.seed, rec.size)), {
          params: DEFAULT_CHK_PARAMS,
        });
        if (node.cap !== rec.cap) throw new Mismatch(`a re-upload of ${rec.size} bytes gave another cap`);
        return rec.size;
      }
      case 'download': {
        const rec = immutables[Math.floor(r() * immutables.length)];
        const checker = new ContentChecker(rec.seed, rec.size);
        for await (const chunk of grid.open(rec.cap).read()) checker.push(chunk);
        const diff = checker.result();
        if (diff) throw new Mismatch(`file of ${rec.size} bytes by client ${rec.owner}: ${diff}`);
        verified++;
        return rec.size;
      }
      case 'mcreate': {
        const data = contentOf(nextSeed(), mutableSize(r));
        const format = r() < 0.8 ? 'mdmf' : 'sdmf';
        const node = await grid.createMutable(data, { format });
        const hash = sha256Hex(data);
        const rec: MutableRecord = { kind: 'mut', readCap: node.readCap!, owner: id, format, hashes: [hash] };
        mutables.set(rec.readCap, rec);
        mine.push({ rec, node, current: data, possible: new Set([hash]) });
        send({ type: 'file', rec });
        return data.length;
      }
      case 'moverwrite': {
        const m = mine[Math.floor(r() * mine.length)];
        await resync(m);
        const data = contentOf(nextSeed(), mutableSize(r));
        return publish(m, data, () => m.node.overwrite(data));
      }
      case 'mmodify': {
        const m = mine[Math.floor(r() * mine.length)];
        await resync(m);
        // An idempotent change: a run of bytes set to a pattern of this attempt's own.
        const len = m.current.length;
        const at = Math.floor(r() * (len + 1));
        const n = Math.max(1, Math.floor(r() * Math.min(4096, len + 1)));
        const tag = Math.floor(r() * 256);
        const change = (cur: Uint8Array): Uint8Array | null => {
          const end = at + n;
          const out = new Uint8Array(Math.max(cur.length, end));
          out.set(cur);
          for (let i = at; i < end; i++) out[i] = (tag + i) & 0xff;
          return out.length === cur.length && Buffer.from(out).equals(Buffer.from(cur)) ? null : out;
        };
        const expected = change(m.current) ?? m.current;
        return publish(m, expected, () => m.node.modify(change));
      }
      case 'mread': {
        const all = [...mutables.values()];
        const rec = all[Math.floor(r() * all.length)];
        const own = mine.find((m) => m.rec === rec);
        let data: Uint8Array;
        const began = rec.began ?? 0;
        const busy = began !== (rec.ended ?? 0);
        try {
          data = await readAll(grid.open(rec.readCap));
        } catch (err) {
          const overlapped = busy || (rec.began ?? 0) !== began;
          throw annotate(
            err,
            `${own ? 'own' : `client ${rec.owner}'s`} ${rec.format} file, ${overlapped ? 'while its owner was writing it' : 'no write under way'}`,
          );
        }
        if (own) {
          const exact = own.possible.size === 1 && Buffer.from(data).equals(Buffer.from(own.current));
          if (!exact && !own.possible.has(sha256Hex(data))) {
            throw new Mismatch(
              `own mutable file: read ${data.length} bytes, not the ${own.current.length} written last`,
            );
          }
        } else if (!rec.hashes.includes(sha256Hex(data))) {
          throw new Mismatch(
            `mutable file of client ${rec.owner}: ${data.length} bytes that no version held`,
          );
        }
        verified++;
        return data.length;
      }
    }
  }

  /**
   * After a write that failed, the file holds the old version or the new one: read which, so
   * the next change starts from what is there.
   */
  async function resync(m: Owned): Promise<void> {
    if (m.possible.size === 1) return;
    const data = await readAll(grid.open(m.rec.readCap));
    if (!m.possible.has(sha256Hex(data))) {
      throw new Mismatch(`own mutable file after a failed write: ${data.length} bytes that no version held`);
    }
    m.current = data;
    m.possible = new Set([sha256Hex(data)]);
  }

  /** A new version of an own mutable file: announced before (readers may see it at once), kept after. */
  async function publish(m: Owned, data: Uint8Array, write: () => Promise<void>): Promise<number> {
    const hash = sha256Hex(data);
    if (!m.rec.hashes.includes(hash)) m.rec.hashes.push(hash);
    send({ type: 'mver', readCap: m.rec.readCap, hash });
    m.rec.began = (m.rec.began ?? 0) + 1;
    m.possible.add(hash);
    try {
      await write();
    } finally {
      m.rec.ended = (m.rec.ended ?? 0) + 1;
      send({ type: 'mdone', readCap: m.rec.readCap });
    }
    m.current = data;
    m.possible = new Set([hash]);
    return data.length;
  }
}

// ---- final check --------------------------------------------------------------------------

async function finalCheck(relayUrl: string, tools: GridClientOptions['tools']): Promise<FinalReport> {
  // A fresh client, as someone opening the caps later would be.
  const grid = new Grid({
    url: relayUrl,
    cache: memoryServerListCache(),
    tools,
    secrets: async () => ({ lease: new Uint8Array(32), convergence: new Uint8Array(32) }),
  });
  const jobs: Array<() => Promise<void>> = [];
  const lost: FinalReport['lost'] = [];
  let checked = 0;
  for (const [client, files] of ownedImmutables) {
    for (const rec of files) {
      jobs.push(async () => {
        const checker = new ContentChecker(rec.seed, rec.size);
        try {
          for await (const chunk of grid.open(rec.cap).read()) checker.push(chunk);
          const diff = checker.result();
          if (diff) lost.push({ what: `immutable ${rec.size} B of client ${client}`, why: diff });
        } catch (err) {
          lost.push({
            what: `immutable ${rec.size} B of client ${client}`,
            why: `${errorCode(err)}: ${(err as Error).message}`,
          });
        }
        checked++;
      });
    }
  }
  for (const [client, files] of owned) {
    for (const m of files) {
      jobs.push(async () => {
        try {
          const data = await readAll(grid.open(m.rec.readCap));
          if (!m.possible.has(sha256Hex(data))) {
            lost.push({
              what: `${m.rec.format} mutable of client ${client}`,
              why: `read ${data.length} bytes, not the ${m.current.length} published last`,
            });
          }
        } catch (err) {
          lost.push({
            what: `${m.rec.format} mutable of client ${client}`,
            why: `${errorCode(err)}: ${(err as Error).message}`,
          });
        }
        checked++;
      });
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
  grid.close();
  return { checked, lost };
}

// ---- wiring --------------------------------------------------------------------------------

function percentile(h: ReturnType<typeof monitorEventLoopDelay>, p: number): number {
  return h.percentile(p) / 1e6;
}

async function main(): Promise<void> {
  const codec = await loadCodec();
  const tools = async () => ({ backend: nodeCrypto, codec });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let relayUrl = '';
  process.on('message', (m: ToWorker) => {
    if (m.type === 'file') {
      if (m.rec.kind === 'imm') immutables.push(m.rec);
      else if (!mutables.has(m.rec.readCap)) mutables.set(m.rec.readCap, m.rec);
    } else if (m.type === 'mver') {
      const rec = mutables.get(m.readCap);
      if (rec && !rec.hashes.includes(m.hash)) rec.hashes.push(m.hash);
      if (rec) rec.began = (rec.began ?? 0) + 1;
    } else if (m.type === 'mdone') {
      const rec = mutables.get(m.readCap);
      if (rec) rec.ended = (rec.ended ?? 0) + 1;
    } else if (m.type === 'start') {
      relayUrl = m.relayUrl;
      void run(m);
    } else if (m.type === 'final') {
      void finalCheck(relayUrl, tools).then((report) => send({ type: 'final-result', report }));
    }
  });
  process.on('disconnect', () => process.exit(0));

  async function run(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
    loop.enable();
    const deadline = Date.now() + m.seconds * 1000;
    const ticker = setInterval(() => {
      if (progressOk + progressErr === 0) return;
      send({ type: 'progress', ok: progressOk, err: progressErr });
      progressOk = 0;
      progressErr = 0;
    }, 1000);
    // Clients come up over the first second (client i after i × 20 ms), as people do, rather
    // than all in one tick of one event loop.
    const loops = Promise.all(
      m.clients.map(async (id) => {
        await new Promise((res) => setTimeout(res, id * 20));
        await clientLoop(id, m.relayUrl, tools, m.seed, deadline);
      }),
    );
    // Operations started before the deadline may finish after it, within drainMs.
    await Promise.race([
      loops,
      new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + m.drainMs)),
    ]);
    clearInterval(ticker);
    send({ type: 'progress', ok: progressOk, err: progressErr });
    loop.disable();
    send({
      type: 'done',
      report: {
        ops,
        samples,
        verified,
        unfinished: running,
        loopDelayMs: { p50: percentile(loop, 50), p99: percentile(loop, 99), max: loop.max / 1e6 },
      },
    });
  }

  send({ type: 'ready' });
}

await main();
