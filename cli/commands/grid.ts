/** `cairn grid`: a whole local grid on 127.0.0.1, and the web app served beside it. */
import path from 'node:path';
import { serve } from '@hono/node-server';
import { staticApp } from '../../relay/static.ts';
import { intOption, parse } from '../args.ts';
import type { Command } from '../command.ts';
import { cairnHome, webBundleDir } from '../paths.ts';

const usage = `usage: cairn grid [--servers N] [--dir DIR] [--port P]

Starts a local grid on 127.0.0.1 and serves the web app; prints the URL to open.
  --servers N  storage servers to start (default 10)
  --dir DIR    where the grid keeps its data, kept across restarts (default ~/.cairn/grid)
  --port P     the web app's port (default 3456; 0 picks a free one)`;

export const gridCommand: Command = {
  name: 'grid',
  summary: 'start a local grid and serve the web app',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      { servers: { type: 'string' }, dir: { type: 'string' }, port: { type: 'string' } },
      0,
    );
    intOption(values.servers, 'servers', 1, 256, 10);
    const port = intOption(values.port, 'port', 0, 65535, 3456);
    const dir = path.resolve(values.dir ?? path.join(cairnHome(), 'grid'));
    const app = staticApp({ root: webBundleDir });
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    console.log(`data: ${dir}`);
    console.log(`Cairn is running: open http://127.0.0.1:${actualPort}/`);
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};
