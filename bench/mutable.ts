/**
 * `npm run bench:mutable`: editable (MDMF) files against immutable (CHK) ones, the same bytes
 * through the same local grid (`cairn grid`: relay + 10 storage server processes on
 * 127.0.0.1), k=3 N=10 (CHK happy=7), 128 KiB segments, in Node and in Chromium, in one run.
 *
 * - RSA-2048 key generation, median of 20: Node (core/primitives/rsa.ts on Node's WebCrypto)
 *   and Chromium (the same module bundled into a page).
 * - Publish and retrieve of an MDMF file, beside upload and download of a CHK file holding
 *   the same bytes (the same-run baseline): MB/s (10^6 B of plaintext per second of wall
 *   clock), CPU seconds of the client, the relay and the 10 servers per phase, and the ratio
 *   MDMF/CHK of the MB/s.
 *   - Node: core/client's Grid in this process: `createMutable(data, {format: 'mdmf'})`,
 *     `open(readCap).read()`, `upload(bytesSource(data), {params})`, `open(cap).read()`.
 *   - Chromium: the web app itself (bench/mutable-browser.ts), as a user drives it: a file
 *     chosen on the Upload page with 'Editable' ticked (MDMF) or not (CHK), then Download on
 *     the file page of the link, saved to disk by Chromium and checked by SHA-256.
 * - Key generation is not publish time: a publish makes a fresh key first; that one
 *   `generateKey` is timed where it runs (WebCrypto's wrapped, in this process or in the tab's
 *   grid worker) and its wall clock is taken out of the MDMF publish figures and printed
 *   beside them. In Node its CPU (the process's while it ran) is taken out too; in Chromium
 *   the renderer's CPU figure still holds it.
 *
 * Every phase uses fresh random bytes (a convergent CHK upload of bytes already stored would
 * find its shares there). Each size is run --reps times (default 5 up to 4 MiB, else 3),
 * MDMF and CHK taking turns going first, and the median run of each phase (by wall clock)
 * is printed with its own CPU figures. The machine is shared: "others" is the share of its
 * CPU that other processes took during the phase.
 *
 * Options: --sizes 1,64 (MiB), --reps N, --keygens 20, --node-only, --browser-only, --keep,
 * --profile (V8 CPU profiles, top functions by self time, of the Node client and of the
 * tab's workers, per phase of each size's last run; slows what it profiles).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Grid, memoryServerListCache } from '../core/client/index.ts';
import { loadCodec } from '../core/codec/index.ts';
import { DEFAULT_CHK_PARAMS } from '../core/immutable/params.ts';
import { bytesSource } from '../core/immutable/source.ts';
import { nodeCrypto } from '../core/primitives/crypto-node.ts';
import { generateRsaKeyPair } from '../core/primitives/rsa.ts';
import { peakBytes, resetPeak } from './proc.ts';
import { summarise } from './web-profile.ts';
import {
  fmtSize,
  KINDS,
  type Kind,
  type LocalGrid,
  MiB,
  machineCpu,
  mbs,
  medianPhase,
  oneLine,
  type Phase,
  type RuntimeFigures,
  repoRoot,
  type SizeFigures,
  startGrid,
  table,
} from './mutable-grid.ts';
import { median } from './stats.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const sizes = (opt('--sizes') ?? '1,64').split(',').map((s) => Math.round(Number(s) * MiB));
const repsFor = (size: number) => Number(opt('--reps') ?? (size <= 4 * MiB ? 5 : 3));
const keygens = Number(opt('--keygens') ?? 20);

/**
 * Records each RSA key generation of this process's WebCrypto: wall ms, and CPU seconds of
 * the process meanwhile (a publish awaits its key before doing anything else, so that is the
 * key's own cost, whichever libuv thread computed it).
 */
function timeKeygens(): { ms: number[]; cpu: number[]; stop(): void } {
  const subtle = globalThis.crypto.subtle;
  const original = subtle.generateKey;
  const ms: number[] = [];
  const cpu: number[] = [];
  const wrapped = async (...a: Parameters<SubtleCrypto['generateKey']>) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      return await original.apply(subtle, a);
    } finally {
      if ((a[0] as { name?: string }).name === 'RSA-PSS') {
        ms.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.push((c.user + c.system) / 1e6);
      }
    }
  };
  Object.defineProperty(subtle, 'generateKey', { value: wrapped, configurable: true, writable: true });
  return {
    ms,
    cpu,
    stop: () => {
      delete (subtle as unknown as Record<string, unknown>).generateKey;
    },
  };
}

/** With --profile, a V8 CPU profile of this process per Node phase (its top functions by self time). */
let inspector: Session | null = null;

/** Runs one phase; `label` (given on the run to profile) names its profile. */
async function nodePhase(grid: LocalGrid, fn: () => Promise<void>, label?: string): Promise<Phase> {
  const session = label !== undefined ? inspector : null;
  if (session) {
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  const m0 = machineCpu();
  const g0 = grid.cpu();
  resetPeak(process.pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const g1 = grid.cpu();
  const m1 = machineCpu();
  const client = (c.user + c.system) / 1e6;
  const relay = g1.relay - g0.relay;
  const servers = g1.servers - g0.servers;
  const total = m1.total - m0.total;
  const others = total > 0 ? Math.max(0, m1.busy - m0.busy - client - relay - servers) / total : 0;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    console.log(`  ${label}, Node client:\n${summarise(profile as Parameters<typeof summarise>[0])}`);
  }
  return { seconds, client, relay, servers, others, peak: peakBytes(process.pid) };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function drain(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

async function nodeBench(grid: LocalGrid): Promise<RuntimeFigures> {
  const keygenMs: number[] = [];
  for (let i = 0; i < keygens; i++) {
    const t0 = performance.now();
    await generateRsaKeyPair();
    keygenMs.push(performance.now() - t0);
  }
  const secrets = {
    lease: randomFillSync(new Uint8Array(32)),
    convergence: randomFillSync(new Uint8Array(32)),
  };
  const g = new Grid({
    url: grid.url,
    cache: memoryServerListCache(),
    tools: async () => ({ backend: nodeCrypto, codec: await loadCodec() }),
    secrets: async () => secrets,
  });
  const params = DEFAULT_CHK_PARAMS;
  try {
    // Warm up connections, the codec and the JIT on both paths.
    const warm = randomFillSync(new Uint8Array(512 * 1024));
    const wm = await g.createMutable(warm, { format: 'mdmf' });
    await drain(g.open(wm.readCap!).read());
    const wc = await g.upload(bytesSource(warm), { params });
    await drain(wc.node.read());

    const out: SizeFigures[] = [];
    for (const size of sizes) {
      const reps = repsFor(size);
      const runs: Record<Kind, Phase[]> = {
        'mdmf-publish': [],
        'mdmf-retrieve': [],
        'chk-upload': [],
        'chk-download': [],
      };
      const keygenInPublishMs: number[] = [];
      for (let r = 0; r < reps; r++) {
        const data = randomFillSync(new Uint8Array(size));
        const digest = sha(data);
        const label = (kind: Kind) => (r === reps - 1 ? `${kind} ${fmtSize(size)}` : undefined);
        const mdmf = async () => {
          const timer = timeKeygens();
          let readCap = '';
          let publish: Phase;
          try {
            publish = await nodePhase(
              grid,
              async () => {
                const node = await g.createMutable(data, { format: 'mdmf' });
                readCap = node.readCap!;
              },
              label('mdmf-publish'),
            );
          } finally {
            timer.stop();
          }
          const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
          keygenInPublishMs.push(...timer.ms);
          runs['mdmf-publish'].push({
            ...publish,
            seconds: publish.seconds - sum(timer.ms) / 1000,
            client: publish.client - sum(timer.cpu),
          });
          let got = '';
          runs['mdmf-retrieve'].push(
            await nodePhase(
              grid,
              async () => {
                got = await drain(g.open(readCap).read());
              },
              label('mdmf-retrieve'),
            ),
          );
          if (got !== digest) throw new Error(`Node: the MDMF file of ${size} bytes read back differs`);
        };
        const chk = async () => {
          let cap = '';
          runs['chk-upload'].push(
            await nodePhase(
              grid,
              async () => {
                cap = (await g.upload(bytesSource(data), { params })).node.cap;
              },
              label('chk-upload'),
            ),
          );
          let got = '';
          runs['chk-download'].push(
            await nodePhase(
              grid,
              async () => {
                got = await drain(g.open(cap).read());
              },
              label('chk-download'),
            ),
          );
          if (got !== digest) throw new Error(`Node: the CHK file of ${size} bytes read back differs`);
        };
        if (r % 2 === 0) {
          await chk();
          await mdmf();
        } else {
          await mdmf();
          await chk();
        }
      }
      const phases = Object.fromEntries(KINDS.map((k) => [k, medianPhase(runs[k])])) as Record<Kind, Phase>;
      out.push({ size, reps, phases, keygenInPublishMs });
      console.log(`  Node ${fmtSize(size)}: ${oneLine(size, phases)}`);
    }
    return {
      runtime: `Node ${process.versions.node}`,
      path: "core/client's Grid in the bench process (node:crypto, wasm codec)",
      keygenMs,
      sizes: out,
      cpuNote: "MDMF publish excludes its key generation's wall clock and CPU (the process's, while it ran)",
    };
  } finally {
    g.close();
  }
}

function report(all: RuntimeFigures[]): void {
  const goals: string[] = [];
  for (const rt of all) {
    console.log(`\n${rt.runtime}: ${rt.path}; ${rt.cpuNote}`);
    const k = rt.keygenMs;
    if (k.length > 0)
      console.log(
        `RSA-2048 key generation: median ${median(k).toFixed(0)} ms of ${k.length} (min ${Math.min(...k).toFixed(0)}, max ${Math.max(...k).toFixed(0)})`,
      );
    const header = [
      'size',
      'runs',
      'phase',
      'MB/s',
      'MDMF/CHK',
      'CPU s client',
      'relay',
      '10 servers',
      'MB per client CPU-s',
      'MB per CPU-s (all)',
      'peak RSS MB',
      'others',
    ];
    const rows: string[][] = [];
    for (const s of rt.sizes) {
      const pairs: [Kind, Kind][] = [
        ['mdmf-publish', 'chk-upload'],
        ['mdmf-retrieve', 'chk-download'],
      ];
      for (const [m, c] of pairs) {
        for (const kind of [m, c]) {
          const p = s.phases[kind];
          const ratio = kind === m ? (mbs(s.size, p) / mbs(s.size, s.phases[c])).toFixed(2) : '';
          rows.push([
            fmtSize(s.size),
            String(s.reps),
            kind,
            mbs(s.size, p).toFixed(1),
            ratio,
            p.client.toFixed(2),
            p.relay.toFixed(2),
            p.servers.toFixed(2),
            (s.size / 1e6 / p.client).toFixed(0),
            (s.size / 1e6 / (p.client + p.relay + p.servers)).toFixed(0),
            (p.peak / 1e6).toFixed(0),
            `${(p.others * 100).toFixed(0)}%`,
          ]);
        }
        const ratio = mbs(s.size, s.phases[m]) / mbs(s.size, s.phases[c]);
        goals.push(
          `${rt.runtime.split(' ')[0]} ${fmtSize(s.size)} ${m.replace('mdmf-', 'MDMF ')} ${ratio.toFixed(2)}x CHK: ${ratio >= 0.8 ? 'met' : 'NOT met'} (goal >= 0.8x)`,
        );
      }
      if (s.keygenInPublishMs.length > 0)
        rows.push([
          '',
          '',
          'keygen in publish',
          `${median(s.keygenInPublishMs).toFixed(0)} ms`,
          '',
          '(excluded above)',
          '',
          '',
          '',
          '',
          '',
          '',
        ]);
    }
    console.log(table(header, rows));
    if (rt.runtime.startsWith('Chromium') && k.length > 0)
      goals.push(
        `Chromium RSA-2048 key generation median ${median(k).toFixed(0)} ms: ${median(k) < 300 ? 'met' : 'NOT met'} (goal < 300 ms)`,
      );
  }
  console.log('\nGoals (this run):');
  for (const g of goals) console.log(`  ${g}`);
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-mutable-'));
  console.log(
    `mutable bench: MDMF publish/retrieve beside CHK upload/download of the same bytes; ${os.cpus().length} cores\n` +
      'grid: cairn grid (relay + 10 server processes on 127.0.0.1), k=3 N=10 (CHK happy=7), 128 KiB segments\n' +
      'MB/s = 10^6 B of plaintext per second of wall clock; CPU s per phase; MDMF publish excludes its key generation\n',
  );
  const grid = await startGrid(path.join(tmp, 'grid'), path.join(tmp, 'home'));
  const all: RuntimeFigures[] = [];
  try {
    if (!args.includes('--browser-only')) {
      if (args.includes('--profile')) {
        inspector = new Session();
        inspector.connect();
        await inspector.post('Profiler.enable');
      }
      all.push(await nodeBench(grid));
      inspector?.disconnect();
      inspector = null;
    }
    if (!args.includes('--node-only')) {
      if (!existsSync(path.join(repoRoot, 'dist/web/index.html')))
        throw new Error("no web bundle in dist/web: run 'npm run build' first");
      const { browserBench } = await import('./mutable-browser.ts');
      all.push(
        await browserBench(grid, { sizes, repsFor, keygens, dir: tmp, profile: args.includes('--profile') }),
      );
    }
    report(all);
  } finally {
    await grid.stop();
    if (!args.includes('--keep')) await fs.rm(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

await main();
