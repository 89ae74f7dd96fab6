/**
 * Loads one build of the Reed-Solomon kernel (wasm/assembly/codec.ts) and returns its
 * typed exports. The same call works in Node (reads the file beside this module) and in
 * a page or module worker (fetches the asset Vite emits for the `new URL(…)` below).
 */

export type KernelVariant = 'relaxed' | 'simd' | 'scalar';

/** The ABI every build exports (see wasm/assembly/codec.ts). Pointers are byte offsets. */
export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  variant(): number;
  heapStart(): number;
  tableBytes(rows: number, k: number): number;
  encodeMatrix(k: number, n: number, out: number): void;
  decodeMatrix(k: number, n: number, shares: number, out: number): number;
  prepare(coef: number, rows: number, k: number, tab: number): void;
  mulRows(
    coef: number,
    tab: number,
    rows: number,
    k: number,
    input: number,
    stride: number,
    output: number,
    len: number,
  ): void;
}

// Literal `new URL(..., import.meta.url)` expressions, one per build, so Vite bundles each.
function wasmUrl(variant: KernelVariant): URL {
  switch (variant) {
    case 'relaxed':
      return new URL('../build/codec-relaxed.wasm', import.meta.url);
    case 'simd':
      return new URL('../build/codec-simd.wasm', import.meta.url);
    case 'scalar':
      return new URL('../build/codec-scalar.wasm', import.meta.url);
  }
}

// Tiny probe modules: one function returning i8x16.swizzle (resp. relaxed_swizzle) of two
// zero constants. WebAssembly.validate says whether the engine knows the opcode.
const PROBE_HEAD = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0];
const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const SIMD_PROBE = new Uint8Array([
  ...PROBE_HEAD,
  ...[0x0a, 0x2a, 0x01, 0x28, 0x00],
  ...V128_ZERO,
  ...V128_ZERO,
  ...[0xfd, 0x0e, 0x0b],
]);
const RELAXED_PROBE = new Uint8Array([
  ...PROBE_HEAD,
  ...[0x0a, 0x2b, 0x01, 0x29, 0x00],
  ...V128_ZERO,
  ...V128_ZERO,
  ...[0xfd, 0x80, 0x02, 0x0b],
]);

/** The builds this engine can run, fastest first. */
export function supportedVariants(): KernelVariant[] {
  const out: KernelVariant[] = [];
  if (WebAssembly.validate(RELAXED_PROBE)) out.push('relaxed');
  if (WebAssembly.validate(SIMD_PROBE)) out.push('simd');
  out.push('scalar');
  return out;
}

const compiled = new Map<KernelVariant, Promise<WebAssembly.Module>>();

async function compile(variant: KernelVariant): Promise<WebAssembly.Module> {
  const url = wasmUrl(variant);
  if (url.protocol === 'file:') {
    // Node (tsx, vitest, the CLI). The specifier is a variable so bundlers leave it alone.
    const fsName = 'node:fs/promises';
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await fs.readFile(url);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
      throw new Error(`${url.pathname} is missing: run 'npm run build:wasm'`, { cause: err });
    }
    return WebAssembly.compile(bytes);
  }
  if (url.protocol === 'data:') {
    // Vite inlines small assets as base64 data: URLs; decode here rather than fetch, which
    // a strict connect-src CSP (the relay's) would refuse.
    const b64 = url.href.slice(url.href.indexOf(',') + 1);
    return WebAssembly.compile(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url.pathname} failed: HTTP ${response.status}`);
  if (response.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Instantiates a fresh kernel (own memory). The compiled module is shared per variant. */
export async function loadKernel(variant: KernelVariant): Promise<KernelExports> {
  let mod = compiled.get(variant);
  if (!mod) {
    mod = compile(variant);
    compiled.set(variant, mod);
    mod.catch(() => compiled.delete(variant));
  }
  const instance = await WebAssembly.instantiate(await mod, {
    env: {
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`codec wasm aborted at ${line}:${column}`);
      },
    },
  });
  return instance.exports as unknown as KernelExports;
}
