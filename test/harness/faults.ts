/**
 * Faults for real processes on 127.0.0.1: a relay and `cairn server` processes, each server
 * behind a TCP proxy of its own (test/harness/proxy.ts) that it announces as its public URL,
 * so clients that found it through the relay reach it through the proxy. Then:
 *
 *   const g = await startFaultGrid({ servers: 7 });
 *   const s = g.servers[2];
 *   await s.kill();          // SIGKILL, waits for the exit
 *   await s.start();         // again on the same folder: same identity, same shares, same URL
 *   s.hang(); s.resume();    // SIGSTOP / SIGCONT: sockets stay open, nothing answers
 *   s.slow({ delayMs: 100, bytesPerSec: 200_000 }); s.slow({});   // through its proxy
 *   await g.relayDown(); await g.relayUp();   // the relay killed, then back on the same port
 *   g.relayHang(); await g.relayResume();     // the relay SIGSTOPped, then SIGCONTinued
 *   const client = g.client({ requestTimeoutMs: 3000 });           // a core Grid on this grid
 *   await g.close();         // every process and proxy, even after a failure half way
 *
 * Seeds: `useSeed()` inside a test gives a seeded Random and prints the seed if the test fails;
 * FAULTS_SEED=<n> replays one, FAULTS_SEED=random explores. FAULTS_FULL=1 raises iteration
 * counts (`scaled(ci, full)`) for a long local run.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { onTestFailed } from 'vitest';
import {
  Grid,
  type GridClientOptions,
  memoryServerListCache,
  type ServerListCache,
} from '../../core/client/index.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import type { ServerId } from '../../core/types.ts';
import { type SpawnedRelay, type SpawnedServer, spawnRelay, spawnServer, tempDir } from './grid.ts';
import { startProxy, type TcpProxy, type Throttle } from './proxy.ts';
import { waitFor } from './wait.ts';

// ---- seeds and sizes --------------------------------------------------------------------

/** FAULTS_FULL=1: the long local run. */
export const FULL = process.env.FAULTS_FULL === '1';

/** `ci` in the CI-sized run, `full` under FAULTS_FULL=1. */
export const scaled = (ci: number, full: number): number => (FULL ? full : ci);

const DEFAULT_SEED = 20261204;

/** The run's base seed: FAULTS_SEED, else fixed (CI fails on the code, not on luck); FULL explores. */
export function baseSeed(): number {
  const env = process.env.FAULTS_SEED ?? (FULL ? 'random' : undefined);
  if (env === undefined) return DEFAULT_SEED;
  if (env === 'random') return (Math.random() * 2 ** 31) >>> 0;
  const n = Number(env);
  if (!Number.isSafeInteger(n)) throw new Error(`FAULTS_SEED must be an integer or "random", not ${env}`);
  return n;
}

const SEED = baseSeed();

export interface Random {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  /** `count` distinct items of `xs`, in random order. */
  sample<T>(xs: readonly T[], count: number): T[];
}

/** mulberry32: small, fast, good enough to choose faults. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo));
  return {
    seed,
    next,
    int,
    pick: (xs) => xs[int(0, xs.length)],
    sample(xs, count) {
      const copy = [...xs];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(0, i + 1);
        [copy[i], copy[j]] = [copy[j], copy[i]];
      }
      return copy.slice(0, count);
    },
  };
}

/**
 * A Random for the current test, derived from the run's seed and `label`; a failing test
 * prints how to replay it. Call inside a test.
 */
export function useSeed(label: string): Random {
  let h = SEED >>> 0;
  for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  onTestFailed(() => {
    console.error(`[faults] '${label}' failed; replay with FAULTS_SEED=${SEED}`);
  });
  return seededRandom(h);
}

// ---- servers and relay ------------------------------------------------------------------

/** A port nothing listens on right now (the server takes it a moment later; see FaultServer.start). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export type ServerState = 'running' | 'hung' | 'dead';

/** Processes that ended without the test asking: a crash, which is a failure of its own. */
const crashes: string[] = [];

/** Reports `proc`'s exit unless `expected()` says the test ended it. */
function watchExit(name: string, proc: { process: ChildProcess; output(): string }, expected: () => boolean) {
  proc.process.once('exit', (code, signal) => {
    if (expected()) return;
    crashes.push(`${name} exited by itself (code ${code}, signal ${signal}):\n${proc.output().slice(-4000)}`);
  });
}

/** Every process of a fault grid that ended without being asked to since the last call. */
export function takeCrashes(): string[] {
  return crashes.splice(0);
}

export class FaultServer {
  #proc: SpawnedServer | null = null;
  #serverId: ServerId | null = null;
  #state: ServerState = 'dead';
  #port = 0;

  constructor(
    readonly index: number,
    readonly dir: string,
    readonly proxy: TcpProxy,
    private readonly relayUrl: () => string,
    private readonly bundled: boolean,
  ) {}

  /** What clients are told to connect to: the proxy, whatever port the process has now. */
  get url(): string {
    return `ws://127.0.0.1:${this.proxy.port}/v1/storage`;
  }

  get serverId(): ServerId {
    if (!this.#serverId) throw new Error(`server ${this.index} never started`);
    return this.#serverId;
  }

  get state(): ServerState {
    return this.#state;
  }

  get process(): ChildProcess | null {
    return this.#proc?.process ?? null;
  }

  /** Everything the current process printed. */
  output(): string {
    return this.#proc?.output() ?? '';
  }

  /** Starts the process on this folder (again), behind the same proxy. */
  async start(): Promise<void> {
    if (this.#state !== 'dead') throw new Error(`server ${this.index} is ${this.#state}`);
    // A port picked here could be taken by someone else before the server binds it: try anew.
    for (let attempt = 0; ; attempt++) {
      if (this.#port === 0 || attempt > 0) this.#port = await freePort();
      try {
        this.#proc = await spawnServer({
          dir: this.dir,
          relayUrl: this.relayUrl(),
          port: this.#port,
          nickname: `f${this.index}`,
          bundled: this.bundled,
          extraArgs: ['--public-url', this.url],
        });
        break;
      } catch (err) {
        if (attempt >= 3 || !/PORT_IN_USE|already in use/.test((err as Error).message)) throw err;
      }
    }
    const proc = this.#proc;
    watchExit(`server ${this.index}`, proc, () => this.#proc !== proc);
    if (this.#serverId && this.#serverId !== this.#proc.serverId) {
      throw new Error(`server ${this.index} came back as another server`);
    }
    this.#serverId = this.#proc.serverId;
    this.proxy.retarget(this.#port);
    this.#state = 'running';
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(): Promise<void> {
    const p = this.#proc;
    this.#state = 'dead';
    this.#proc = null;
    if (p) await p.stop('SIGKILL');
  }

  /** SIGSTOP: the process keeps its sockets and answers nothing. */
  hang(): void {
    if (this.#state !== 'running') throw new Error(`server ${this.index} is ${this.#state}`);
    this.#proc!.process.kill('SIGSTOP');
    this.#state = 'hung';
  }

  /** SIGCONT after hang(). */
  resume(): void {
    if (this.#state !== 'hung') return;
    this.#proc!.process.kill('SIGCONT');
    this.#state = 'running';
  }

  /** Throttles this server's proxy from now on; `{}` is full speed. */
  slow(t: Throttle): void {
    this.proxy.throttle(t);
  }

  /** Ends the process for good (SIGCONT first: a stopped process would hold a SIGTERM). */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p) return;
    if (this.#state === 'hung') p.process.kill('SIGCONT');
    this.#state = 'dead';
    this.#proc = null;
    await p.stop('SIGTERM');
  }
}

export interface FaultGrid {
  readonly servers: FaultServer[];
  /** The relay's URL: the same across relayDown()/relayUp(). */
  readonly relayUrl: string;
  /** A client of this grid (a core Grid); closed by close(). */
  client(opts?: ClientOptions): Grid;
  /** Kills the relay (SIGKILL). */
  relayDown(): Promise<void>;
  /** Starts the relay again on its port and waits until it lists every running server. */
  relayUp(): Promise<void>;
  /** Hangs the relay (SIGSTOP): its port still accepts connections, nothing answers. */
  relayHang(): void;
  /** Resumes a hung relay (SIGCONT) and waits until it lists every running server. */
  relayResume(): Promise<void>;
  /** Brings every server back to running (resumed, restarted) with its proxy at its pace. */
  heal(): Promise<void>;
  /** Waits until the relay lists every running and hung server (a dead one may be listed too). */
  settled(): Promise<void>;
  /** Bytes through all the servers' proxies so far: up (to servers) and down (to clients). */
  traffic(): { up: number; down: number };
  close(): Promise<void>;
}

export interface ClientOptions extends Partial<Omit<GridClientOptions, 'url' | 'tools' | 'secrets'>> {
  /** Fills the client's lease secret (default 1). */
  secretByte?: number;
  cache?: ServerListCache;
}

export interface FaultGridOptions {
  servers: number;
  /** k and N of new mutable files (default 3 and servers). */
  mutable?: { k: number; n: number };
  /** Bundled servers on bare Node (default true: lighter, faster to restart). */
  bundled?: boolean;
  /**
   * Every server's normal link (default: full speed). A transfer paced to last a while lets a
   * fault land in its middle rather than after its end; heal() comes back to this.
   */
  pace?: Throttle;
}

let codec: Awaited<ReturnType<typeof loadCodec>> | undefined;

export async function startFaultGrid(opts: FaultGridOptions): Promise<FaultGrid> {
  codec ??= await loadCodec();
  const bundled = opts.bundled ?? true;
  let relay: SpawnedRelay | null = null;
  let relayPort = 0;
  let relayHung = false;
  const servers: FaultServer[] = [];
  const clients: Grid[] = [];
  const proxies: TcpProxy[] = [];

  const close = async () => {
    for (const c of clients) c.close();
    await Promise.allSettled(servers.map((s) => s.stop()));
    const r = relay;
    relay = null;
    await r?.stop('SIGKILL');
    await Promise.allSettled(proxies.map((p) => p.close()));
  };

  const startRelay = async (port = 0) => {
    const r = await spawnRelay({ port });
    watchExit('the relay', r, () => relay !== r);
    relay = r;
  };
  try {
    await startRelay();
    const relayUrl = (relay as SpawnedRelay | null)!.url;
    relayPort = Number(new URL(relayUrl).port);
    for (let i = 0; i < opts.servers; i++) {
      const proxy = await startProxy(null, opts.pace ?? {});
      proxies.push(proxy);
      servers.push(new FaultServer(i, tempDir('cairn-fault-server-'), proxy, () => relayUrl, bundled));
    }
    await Promise.all(servers.map((s) => s.start()));

    const listed = async () => (await fetchGridServers(relayUrl)).map((s) => s.serverId);
    // Every live server listed. A dead one may be listed too: a relay started again hears of
    // it from the live servers' gossip 2 s after they link (relay/heard-servers.ts), and its
    // signed announcement holds for 10 minutes; clients route around it.
    const settled = async () => {
      const want = servers.filter((s) => s.state !== 'dead').map((s) => s.serverId);
      const missingFrom = (list: string[]) => want.filter((id) => !list.includes(id));
      await waitFor(async () => missingFrom(await listed()).length === 0, {
        what: `the relay to list the ${want.length} live servers`,
        timeoutMs: 30_000,
        detail: async () => `${missingFrom(await listed()).length} of them are not listed`,
      });
    };
    await settled();

    const mutableDefaults = opts.mutable ?? { k: 3, n: opts.servers };
    return {
      servers,
      relayUrl,
      client(c = {}) {
        const { secretByte = 1, cache = memoryServerListCache(), ...rest } = c;
        const grid = new Grid({
          mutableDefaults,
          connectTimeoutMs: 3_000,
          ...rest,
          url: relayUrl,
          cache,
          tools: async () => ({ backend: nodeCrypto, codec: codec! }),
          secrets: async () => ({
            lease: new Uint8Array(32).fill(secretByte),
            convergence: new Uint8Array(32).fill(secretByte),
          }),
        });
        clients.push(grid);
        return grid;
      },
      async relayDown() {
        const r = relay;
        relay = null;
        relayHung = false;
        await r?.stop('SIGKILL');
      },
      async relayUp() {
        if (relay) return;
        await startRelay(relayPort);
        await settled();
      },
      relayHang() {
        if (!relay) throw new Error('the relay is down');
        relayHung = true;
        relay.process.kill('SIGSTOP');
      },
      async relayResume() {
        if (!relay || !relayHung) return;
        relayHung = false;
        relay.process.kill('SIGCONT');
        await settled();
      },
      async heal() {
        if (relay && relayHung) {
          relayHung = false;
          relay.process.kill('SIGCONT');
        }
        for (const s of servers) {
          s.slow(opts.pace ?? {});
          s.resume();
        }
        await Promise.all(servers.filter((s) => s.state === 'dead').map((s) => s.start()));
        if (relay) await settled();
      },
      settled,
      traffic: () => ({
        up: proxies.reduce((n, p) => n + p.toServer(), 0),
        down: proxies.reduce((n, p) => n + p.toClient(), 0),
      }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---- outcomes ---------------------------------------------------------------------------

/** Runs `p` and sorts its end into a value or an error, never letting it throw. */
export async function outcome<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}
