/**
 * The Chromium half of `npm run bench:tree`: window.listDirectory(cap, fresh) asks the grid
 * worker to list a directory and times it from the page, as a directory page would see it:
 * request posted, entries back in the page (structured clone included).
 */
import type { ListReply, ListRequest } from './worker.ts';

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
let nextId = 1;
const waiting = new Map<number, (r: ListReply) => void>();
worker.onmessage = (e: MessageEvent<ListReply | 'ready'>) => {
  if (e.data === 'ready') {
    document.title = 'ready';
    return;
  }
  const r = e.data;
  waiting.get(r.id)?.(r);
  waiting.delete(r.id);
};
worker.postMessage('init');

async function listDirectory(cap: string, fresh: boolean) {
  const id = nextId++;
  const reply = new Promise<ListReply>((resolve) => waiting.set(id, resolve));
  const t0 = performance.now();
  worker.postMessage({ id, relay: location.origin, cap, fresh } satisfies ListRequest);
  const r = await reply;
  const ms = performance.now() - t0;
  if (r.error) throw new Error(r.error);
  const entries = r.entries ?? [];
  return {
    ms,
    workerMs: r.workerMs ?? 0,
    connectMs: r.connectMs ?? 0,
    count: entries.length,
    bytes: entries.reduce((n, e) => n + (e.size ?? 0), 0),
  };
}

(globalThis as unknown as { listDirectory: typeof listDirectory }).listDirectory = listDirectory;
