import { fileURLToPath } from 'node:url';
import solid from 'vite-plugin-solid';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// The web app lives in web/; its static bundle goes to dist/web, which the relay
// (or any static host) serves as is.
export default defineConfig({
  root: here('./web'),
  base: './',
  plugins: [solid()],
  build: {
    outDir: here('./dist/web'),
    emptyOutDir: true,
    target: 'es2022',
  },
  worker: { format: 'es' },
});
