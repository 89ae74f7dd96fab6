/** Imported by the codec tests: builds wasm/build/*.wasm when `npm ci` (prepare) has not. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const variants = ['scalar', 'simd', 'relaxed'];
if (!variants.every((v) => existsSync(`${root}wasm/build/codec-${v}.wasm`))) {
  execFileSync(process.execPath, [`${root}scripts/build-wasm.mjs`], { stdio: 'inherit' });
}
