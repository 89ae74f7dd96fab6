/**
 * The grid client in a module worker, as the web app runs it (web/workers/grid-worker.ts):
 * core/client's Grid with WebCrypto and the wasm codec, connections opened from here. It
 * lists a directory with Grid.openDirectory(cap).list() and posts back what a directory page
 * would show of each child (name, kind, size, cap).
 */
import backend from '#crypto-backend';
import { Grid } from '../../core/client/index.ts';
import { loadCodec } from '../../core/codec/index.ts';

export interface ListRequest {
  id: number;
  /** The relay's URL (the page's own origin: the bench proxies /v1/servers to the relay). */
  relay: string;
  cap: string;
  /** A new Grid (server list fetched, connections opened) instead of the one kept from before. */
  fresh: boolean;
}
export interface ListReply {
  id: number;
  entries?: { name: string; kind: string; size: number | null; cap: string }[];
  /** Milliseconds inside the worker, from the request to the entries in hand. */
  workerMs?: number;
  /** Of which, with a new Grid: fetching the server list and connecting to every server. */
  connectMs?: number;
  error?: string;
}

// Loaded at start, as the app's worker has it loaded by the time anyone opens a directory.
const codec = loadCodec();
const tools = async () => ({ backend, codec: await codec });
const secrets = async () => ({
  lease: crypto.getRandomValues(new Uint8Array(32)),
  convergence: crypto.getRandomValues(new Uint8Array(32)),
});
let grid: Grid | undefined;

self.onmessage = async (e: MessageEvent<ListRequest | 'init'>) => {
  if (e.data === 'init') {
    await codec;
    self.postMessage('ready');
    return;
  }
  const { id, relay, cap, fresh } = e.data;
  const t0 = performance.now();
  try {
    let connectMs = 0;
    if (fresh || !grid) {
      grid?.close();
      grid = new Grid({ url: relay, tools, secrets });
      await grid.connections.requireServers();
      connectMs = performance.now() - t0;
    }
    const children = await grid.openDirectory(cap).list();
    const entries = [...children.values()].map((c) => ({
      name: c.name,
      kind: c.kind,
      size: c.size,
      cap: c.cap,
    }));
    self.postMessage({ id, entries, workerMs: performance.now() - t0, connectMs } satisfies ListReply);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies ListReply);
  }
};
