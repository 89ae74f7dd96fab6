/**
 * Builds a TypeScript entry point of this checkout into plain JavaScript, so the CLI and the
 * storage servers run on bare Node instead of through tsx's loader, which compiles every
 * module again at each start (~0.5 s and ~1 CPU-s per `cairn` command). Packages stay in
 * node_modules. Code reached only through import() goes into chunks of its own, loaded when
 * used (a `cairn put` does not compile the storage server's code). The build is a folder in
 * node_modules/.cache/cairn/, named by a stamp of the sources' paths, sizes and mtimes, with
 * the entry point as entry.mjs: an unchanged tree starts without running esbuild at all, and
 * any edit makes a new folder (renamed into place whole; builds of the same entry older than
 * a day are removed). Plain JavaScript, because it runs before any TypeScript can.
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
  const dir = path.join(cacheDir, `${name}-${sourceStamp(entry)}`);
  const file = path.join(dir, ENTRY_FILE);
  if (existsSync(file)) return Promise.resolve(file);
  // Callers in one process share one build (a test may start ten servers at once).
  let building = inProcess.get(file);
  if (!building) {
    building = build(name, entry, dir).finally(() => inProcess.delete(file));
    inProcess.set(file, building);
  }
  return building;
}

const ENTRY_FILE = 'entry.mjs';

const inProcess = new Map();

async function build(name, entry, dir) {
  const esbuild = await import('esbuild');
  // Unique per build, so concurrent builders (other processes) never write one folder.
  const tmp = `${dir}.${process.pid}.${randomUUID()}.tmp`;
  const result = await esbuild.build({
    entryPoints: { entry: path.join(repoRoot, entry) },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    write: false,
    logLevel: 'silent',
    plugins: [moduleUrls],
  });
  await fs.mkdir(tmp, { recursive: true });
  for (const out of result.outputFiles) await fs.writeFile(out.path, out.contents);
  try {
    await fs.rename(tmp, dir);
  } catch (err) {
    // Another process put the same build in place first: theirs is used.
    await fs.rm(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(dir, ENTRY_FILE))) throw err;
  }
  // Older builds go once nothing can still be starting from them (a grid may spawn servers
  // later). Single files are the builds from before chunks.
  const stale = Date.now() - 24 * 3600_000;
  for (const old of await fs.readdir(cacheDir)) {
    const p = path.join(cacheDir, old);
    if (old.startsWith(`${name}-`) && p !== dir) {
      const s = await fs.stat(p).catch(() => null);
      if (s && s.mtimeMs < stale) await fs.rm(p, { recursive: true, force: true });
    }
  }
  return path.join(dir, ENTRY_FILE);
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
