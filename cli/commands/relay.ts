/** `cairn relay`: the grid's introducer and forwarder (and, optionally, the web app's host). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_MAX_LISTED_SERVERS, MAX_GRID_SERVERS } from '../../core/protocol/limits.ts';
import { intOption, parse } from '../args.ts';
import type { Command } from '../command.ts';
import { webBundleDir } from '../paths.ts';

const usage = `usage: cairn relay [--port P] [--host H] [--max-servers N] [--web DIR | --no-web]

Runs a relay: storage servers announce themselves to it, clients learn the server list from
it, and it forwards clients to servers that cannot accept connections. Serves the web app
on the same port when it is built.
  --port P    port to listen on (default 3457; 0 picks a free one)
  --host H    interface to listen on (default 127.0.0.1)
  --max-servers N
              servers listed at most (default ${DEFAULT_MAX_LISTED_SERVERS}); when full, listed servers keep
              their places and new ones are refused
  --web DIR   the built web app (default: dist/web when it exists)
  --no-web    do not serve the web app
Prints "Relay ready at http://HOST:PORT" once it serves.`;

export const relayCommand: Command = {
  name: 'relay',
  summary: 'run a relay (server announcements, forwarding, the web app)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        'max-servers': { type: 'string' },
        web: { type: 'string' },
        'no-web': { type: 'boolean' },
      },
      0,
    );
    const port = intOption(values.port, 'port', 0, 65535, 3457);
    const maxServers = intOption(
      values['max-servers'],
      'max-servers',
      1,
      MAX_GRID_SERVERS,
      DEFAULT_MAX_LISTED_SERVERS,
    );
    const web = values['no-web'] ? undefined : path.resolve(values.web ?? webBundleDir);
    // The relay's code is loaded here, not at every `cairn` start (its own bundle chunk).
    const { startRelay } = await import('../../relay/relay.ts');
    const relay = await startRelay({
      port,
      host: values.host,
      limits: { maxServers },
      webRoot: web && existsSync(path.join(web, 'index.html')) ? web : undefined,
      log: (line) => console.log(`${new Date().toISOString()} ${line}`),
    });
    console.log(`Relay ready at ${relay.url}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await relay.close();
    return 0;
  },
};
