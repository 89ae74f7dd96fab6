/**
 * zfec-compatible Reed-Solomon for Cairn (reference/tahoe-formats.md §3), running in
 * WebAssembly: relaxed SIMD, SIMD or scalar, whichever the engine supports best.
 *
 *   const codec = await loadCodec();
 *   const shares = codec.encode(3, 10, [b0, b1, b2]);        // 10 fresh blocks
 *   const data = codec.decode(3, 10, [s7, s8, s9], [7, 8, 9]); // [b0, b1, b2]
 *
 * Hot loops use encodeInto / decodeInto with caller-owned buffers (no allocation);
 * encodeStream / decodeStream code a byte stream segment by segment.
 * Each loadCodec() call gets its own wasm instance; keep one per worker.
 */
import { type KernelVariant, loadKernel, supportedVariants } from '../../wasm/src/load.ts';
import { type Codec, WasmCodec } from './codec.ts';
import { CodecError } from './errors.ts';

export type { Codec } from './codec.ts';
export { MAX_SHARES } from './codec.ts';
export { CodecError, type CodecErrorCode } from './errors.ts';
export { decodeStream, encodeStream, type SegmentShares, type StreamParams } from './stream.ts';
export type { KernelVariant } from '../../wasm/src/load.ts';
export { supportedVariants } from '../../wasm/src/load.ts';

export interface LoadCodecOptions {
  /** 'auto' (default) picks the fastest build the engine validates. */
  variant?: 'auto' | KernelVariant;
}

export async function loadCodec(opts: LoadCodecOptions = {}): Promise<Codec> {
  const wanted = opts.variant ?? 'auto';
  const supported = supportedVariants();
  let variant: KernelVariant;
  if (wanted === 'auto') {
    variant = supported[0];
  } else if (wanted === 'relaxed' || wanted === 'simd' || wanted === 'scalar') {
    if (!supported.includes(wanted)) {
      throw new CodecError('UNSUPPORTED', `this engine cannot run the ${wanted} codec build`);
    }
    variant = wanted;
  } else {
    throw new CodecError('BAD_PARAMS', `unknown codec variant '${String(wanted)}'`);
  }
  let kernel: Awaited<ReturnType<typeof loadKernel>>;
  try {
    kernel = await loadKernel(variant);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new CodecError('LOAD_FAILED', `could not load the ${variant} codec build: ${why}`, { cause });
  }
  return new WasmCodec(kernel, variant);
}
