/**
 * The erasure codec in a module worker, exposed with comlink. Blocks travel as
 * transferable buffers both ways: results are transferred back, never copied, and callers
 * may transfer their inputs in (comlink `transfer(blocks, [segment.buffer])`; list each
 * distinct ArrayBuffer once: blocks cut from one segment share it, and a repeated entry
 * makes postMessage throw).
 * One wasm instance per worker, loaded once; its memory is reused call after call.
 */
import { expose, transfer } from 'comlink';
import { loadCodec, type Codec, type KernelVariant } from '../../core/codec/index.ts';
import { prepareJob, type RateStats, rateStats, type SegmentJob } from '../../core/codec/throughput.ts';

let codec: Promise<Codec> | undefined;
function getCodec(variant: 'auto' | KernelVariant = 'auto'): Promise<Codec> {
  codec ??= loadCodec({ variant });
  return codec;
}

const buffersOf = (blocks: Uint8Array[]) => blocks.map((b) => b.buffer as ArrayBuffer);

const api = {
  /** Loads the codec (optionally forcing a build); resolves to the build in use. */
  async init(variant: 'auto' | KernelVariant = 'auto'): Promise<string> {
    return (await getCodec(variant)).variant;
  },

  /** All N blocks, transferred back. */
  async encode(k: number, n: number, blocks: Uint8Array[]): Promise<Uint8Array[]> {
    const out = (await getCodec()).encode(k, n, blocks);
    return transfer(out, buffersOf(out));
  },

  /** Only the N-k parity blocks (shares k..N-1): the caller already holds the data blocks. */
  async encodeParity(k: number, n: number, blocks: Uint8Array[]): Promise<Uint8Array[]> {
    const len = blocks[0]?.length ?? 0;
    const parity = Array.from({ length: n - k }, () => new Uint8Array(len));
    (await getCodec()).encodeInto(k, n, blocks, parity);
    return transfer(parity, buffersOf(parity));
  },

  /** The k data blocks in order, transferred back. */
  async decode(k: number, n: number, blocks: Uint8Array[], shareNums: number[]): Promise<Uint8Array[]> {
    const out = (await getCodec()).decode(k, n, blocks, shareNums);
    return transfer(out, buffersOf(out));
  },

  /** Encode and worst-case decode MB/s inside this worker (for bench pages). */
  async bench(
    job: SegmentJob,
    minMs: number,
    reps: number,
  ): Promise<{ encode: RateStats; decode: RateStats }> {
    const j = prepareJob(await getCodec(), job);
    return {
      encode: rateStats(j.encodeOnce, j.bytesPerCall, minMs, reps),
      decode: rateStats(j.decodeOnce, j.bytesPerCall, minMs, reps),
    };
  },

  /** Encodes segments back to back for at least `ms`; returns bytes coded and time taken. */
  async encodeFor(job: SegmentJob, ms: number): Promise<{ bytes: number; ms: number }> {
    const j = prepareJob(await getCodec(), job);
    j.encodeOnce();
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      j.encodeOnce();
      calls++;
      elapsed = performance.now() - start;
    } while (elapsed < ms);
    return { bytes: calls * j.bytesPerCall, ms: elapsed };
  },
};

export type CodecWorkerApi = typeof api;

expose(api);
