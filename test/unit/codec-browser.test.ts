/**
 * The codec in Debian's Chromium: a Vite-built page (wasm assets bundled the app's way,
 * served with the relay's CSP) loads every build, and a module worker from the comlink
 * pool encodes and decodes with transferred buffers. The page compares all outputs with
 * zfec's known answers and the scalar build; any difference fails here.
 */
import { describe, expect, it } from 'vitest';
import { runBenchPage } from '../../bench/codec-browser.ts';
import './codec-build.ts';

// Needs Debian's Chromium (CHROMIUM_PATH to override), as the e2e suite does.
describe('codec in Chromium', () => {
  it('page and worker give zfec bytes; Chromium picks relaxed SIMD', async () => {
    const result = await runBenchPage('check=1', 60_000);
    expect(result.problems).toEqual([]);
    expect(result.variants).toEqual(['relaxed', 'simd', 'scalar']);
    expect(result.auto).toBe('relaxed');
  }, 120_000);
});
