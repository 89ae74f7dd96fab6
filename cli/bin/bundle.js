/**
 * Builds a TypeScript entry point of this checkout into one plain-JavaScript file, so the
 * CLI and the storage servers run on bare Node instead of through tsx's loader, which
 * compiles every module again at each start (~0.5 s and ~1 CPU-s per `cairn` command).
 * Packages stay in node_modules. The file lives in node_modules/.cache/cairn/, named by a
 * stamp of the sources' paths, sizes and mtimes: an unchanged tree starts without running
 * esbuild at all, and any edit makes a new file (written atomically; builds of the same entry
 * older than a day are removed). Plain JavaScript, because it runs before any TypeScript can.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE_DIRS = ['cli', 'core', 'server', 'relay', 'wasm/src'];
const cacheDir = path.join(repoRoot, 'node_modules', '.cache', 'cairn');

/** Paths, sizes and mtimes of every source the bundles are made from. */
function sourceStamp(entry) {
  const hash = createHash('sha256').update(`${repoRoot}\0${entry}\0${process.version}\0`);
  const walk = (dir) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (/\.(ts|js|mjs)$/.test(d.name)) {
        const s = statSync(p);
        hash.update(`${p}\0${s.size}\0${s.mtimeMs}\n`);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(repoRoot, dir));
  const pkg = statSync(path.join(repoRoot, 'package.json'));
  hash.update(`package.json\0${pkg.size}\0${pkg.mtimeMs}`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * The bundled form of `entry` (a path from the repository root, e.g. 'cli/main.ts'), built
 * now if the sources changed since the last build. `name` prefixes the cached file.
 */
export function bundleEntry(name, entry) {
  const file = path.join(cacheDir, `${name}-${sourceStamp(entry)}.mjs`);
  if (existsSync(file)) return Promise.resolve(file);
  // Callers in one process share one build (a test may start ten servers at once).
  let building = inProcess.get(file);
  if (!building) {
    building = build(name, entry, file).finally(() => inProcess.delete(file));
    inProcess.set(file, building);
  }
  return building;
}

const inProcess = new Map();

async function build(name, entry, file) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(repoRoot, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    write: false,
    logLevel: 'silent',
    plugins: [moduleUrls],
  });
  await fs.mkdir(cacheDir, { recursive: true });
  // Unique per build, so concurrent builders (other processes) never write one file.
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await fs.writeFile(tmp, result.outputFiles[0].contents);
  await fs.rename(tmp, file);
  // Older builds go once nothing can still be starting from them (a grid may spawn servers later).
  const stale = Date.now() - 24 * 3600_000;
  for (const old of await fs.readdir(cacheDir)) {
    const p = path.join(cacheDir, old);
    if (old.startsWith(`${name}-`) && old.endsWith('.mjs') && p !== file) {
      const s = await fs.stat(p).catch(() => null);
      if (s && s.mtimeMs < stale) await fs.rm(p, { force: true });
    }
  }
  return file;
}

/**
 * In one bundle every module would share the bundle's import.meta.url; each keeps its own
 * instead, so paths relative to a module (the wasm codec's builds, the repository root)
 * resolve as they do unbundled.
 */
// Spelt in pieces: this file is bundled too (cli/server-bundle.ts), and the plugin must not
// rewrite its own search string.
const MODULE_URL = ['import', 'meta', 'url'].join('.');

const moduleUrls = {
  name: 'module-urls',
  setup(build) {
    // Our own modules only (packages stay external): TypeScript and the plain JS of cli/bin.
    build.onLoad({ filter: /\.(ts|js)$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = await fs.readFile(args.path, 'utf8');
      return {
        contents: source.replaceAll(MODULE_URL, JSON.stringify(pathToFileURL(args.path).href)),
        loader: args.path.endsWith('.ts') ? 'ts' : 'js',
      };
    });
  },
};
