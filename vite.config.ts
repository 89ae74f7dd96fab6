import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solid from 'vite-plugin-solid';
import { build, defineConfig, type Plugin } from 'vite';
import { CONFIG_FILE, deploymentConfigJson } from './web/store/deployment.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const outDir = here('./dist/web');

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory()
      ? listFiles(full, base)
      : [path.relative(base, full).split(path.sep).join('/')];
  });
}

/**
 * Builds the hand-written service worker (web/sw/sw.ts) after the app: it lists every
 * file of the bundle as the app shell to precache, and names its cache after a hash of
 * their contents, so any change to the app gives a new worker and a fresh cache.
 */
function serviceWorker(): Plugin {
  return {
    name: 'cairn-service-worker',
    apply: 'build',
    async closeBundle() {
      // The deployment's settings (web/store/deployment.ts): the grid every visitor uses, from
      // CAIRN_GRID at build time; whoever hosts dist/web may edit it by hand afterwards.
      writeFileSync(path.join(outDir, CONFIG_FILE), deploymentConfigJson(process.env.CAIRN_GRID));
      const files = listFiles(outDir).filter((f) => f !== 'sw.js' && !f.endsWith('.map'));
      const hash = createHash('sha256');
      for (const f of files.sort()) hash.update(f).update(readFileSync(path.join(outDir, f)));
      await build({
        configFile: false,
        logLevel: 'warn',
        define: {
          __CAIRN_PRECACHE__: JSON.stringify(files),
          __CAIRN_VERSION__: JSON.stringify(hash.digest('hex').slice(0, 16)),
        },
        build: {
          outDir,
          emptyOutDir: false,
          target: 'es2022',
          copyPublicDir: false,
          lib: {
            entry: here('./web/sw/sw.ts'),
            formats: ['iife'],
            name: 'cairnServiceWorker',
            fileName: () => 'sw.js',
          },
        },
      });
    },
  };
}

// The web app lives in web/; its static bundle goes to dist/web, which the relay
// (or any static host) serves as is.
export default defineConfig({
  root: here('./web'),
  base: './',
  plugins: [solid(), serviceWorker()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
  },
  worker: { format: 'es' },
});
