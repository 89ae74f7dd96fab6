// `npm run build:wasm`: compiles wasm/assembly/codec.ts three ways (scalar, SIMD,
// relaxed SIMD) into wasm/build/. The .wasm files are build output, never committed.
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const builds = {
  scalar: [],
  simd: ['--enable', 'simd'],
  relaxed: ['--enable', 'simd', '--enable', 'relaxed-simd'],
};

await mkdir(`${root}wasm/build`, { recursive: true });
for (const [name, features] of Object.entries(builds)) {
  const { error, stderr } = await asc.main(
    [
      'wasm/assembly/codec.ts',
      '--outFile',
      `wasm/build/codec-${name}.wasm`,
      '-O3',
      '--runtime',
      'stub',
      '--noAssert',
      ...features,
    ],
    { stdout: process.stdout, stderr: process.stderr, baseDir: root },
  );
  if (error) {
    console.error(`build-wasm: ${name} build failed: ${error.message}\n${stderr.toString()}`);
    process.exit(1);
  }
}
console.log('build-wasm: wasm/build/codec-{scalar,simd,relaxed}.wasm');
