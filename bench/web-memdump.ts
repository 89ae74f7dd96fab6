/**
 * Chromium's own account of a process's memory (memory-infra dumps, as chrome://tracing
 * shows them), for bench:web's BENCH_MEMDUMP=1: what the renderer's resident memory is made
 * of beyond the JavaScript heaps and ArrayBuffers that Runtime.getHeapUsage reports (Blink's
 * garbage-collected heap, malloc, PartitionAlloc's partitions, V8's committed heaps).
 */
import type { Cdp } from './web-cdp.ts';

type TraceEvent = {
  ph: string;
  pid: number;
  ts: number;
  args?: { dumps?: { allocators?: Record<string, { attrs?: { size?: { value: string } } }> } };
};

/** Allocators printed: the top-level ones and the partitions that hold bulk data. */
const SHOWN = [
  'v8',
  'blink_gc',
  'malloc',
  'partition_alloc/partitions/array_buffer',
  'partition_alloc/partitions/buffer',
  'shared_memory',
];

export class MemoryDumps {
  private constructor(private readonly cdp: Cdp) {}

  /** Starts tracing with memory dumps on request only (none periodic). */
  static async start(cdp: Cdp): Promise<MemoryDumps> {
    await cdp.send('Tracing.start', {
      traceConfig: {
        includedCategories: ['disabled-by-default-memory-infra'],
        excludedCategories: ['*'],
        memoryDumpConfig: { triggers: [] },
      },
      transferMode: 'ReturnAsStream',
    });
    return new MemoryDumps(cdp);
  }

  /** Asks every process for a dump now. */
  async dump(): Promise<void> {
    await this.cdp.send('Tracing.requestMemoryDump', { levelOfDetail: 'light' }).catch(() => {});
  }

  /** Ends tracing; one line per dump of `pid`: seconds since the first, then MiB by allocator. */
  async stop(pid: number): Promise<string[]> {
    const done = new Promise<string>((resolve) => {
      const off = this.cdp.on((method, params) => {
        if (method !== 'Tracing.tracingComplete') return;
        off();
        resolve(String(params.stream));
      });
    });
    await this.cdp.send('Tracing.end');
    const stream = await done;
    const chunks: string[] = [];
    for (;;) {
      const r = await this.cdp.send<{ data: string; eof: boolean; base64Encoded?: boolean }>('IO.read', {
        handle: stream,
      });
      chunks.push(r.base64Encoded ? Buffer.from(r.data, 'base64').toString() : r.data);
      if (r.eof) break;
    }
    await this.cdp.send('IO.close', { handle: stream }).catch(() => {});
    const events = (JSON.parse(chunks.join('')) as { traceEvents: TraceEvent[] }).traceEvents;
    const dumps = events.filter((e) => e.ph === 'v' && e.pid === pid && e.args?.dumps?.allocators);
    const t0 = dumps[0]?.ts ?? 0;
    const lines = dumps.map((e) => {
      const mib = (name: string) => sizeMiB(e, name);
      return `${((e.ts - t0) / 1e6).toFixed(0).padStart(4)} s  ${SHOWN.map((n) => `${n.replace('partition_alloc/partitions/', 'pa/')} ${mib(n).toFixed(0)}`).join(', ')}`;
    });
    if (process.env.BENCH_MEMDUMP === 'detail') lines.push(...detail(dumps));
    return lines;
  }
}

/**
 * BENCH_MEMDUMP=detail: the dump with the most V8 memory, every allocator under the shown
 * ones of at least 1 MiB (each isolate's heap spaces, Blink's arenas, ...).
 */
function detail(dumps: TraceEvent[]): string[] {
  const top = dumps.reduce<TraceEvent | undefined>(
    (a, e) => (a && sizeMiB(a, 'v8') >= sizeMiB(e, 'v8') ? a : e),
    undefined,
  );
  if (!top) return [];
  const out = ['  the dump with the most V8 memory, allocators of 1 MiB or more:'];
  for (const name of Object.keys(top.args!.dumps!.allocators!).sort()) {
    const mib = sizeMiB(top, name);
    if (mib >= 1 && SHOWN.some((s) => name.startsWith(`${s}/`))) out.push(`    ${name} ${mib.toFixed(1)}`);
  }
  return out;
}

/** An allocator's size in a dump, MiB (0 when the dump has none of that name). */
function sizeMiB(e: TraceEvent, name: string): number {
  return Number.parseInt(e.args!.dumps!.allocators![name]?.attrs?.size?.value ?? '0', 16) / 2 ** 20;
}
