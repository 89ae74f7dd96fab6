/**
 * A real local grid for web tests that need to control servers (stop some mid-test):
 * a relay serving the built web app plus N storage servers linked to it, all on
 * 127.0.0.1 with ephemeral ports and a throwaway directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Relay, startRelay } from '../../relay/relay.ts';
import { type StorageNode, startStorageNode } from '../../server/node.ts';
import { waitFor } from '../harness/wait.ts';

export interface WebGrid {
  url: string;
  relay: Relay;
  nodes: StorageNode[];
  /** Each node's folder (shares under storage/shares/). */
  dirs: string[];
  /** Waits until the relay lists `count` servers. */
  waitForServers(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebGrid(servers = 10): Promise<WebGrid> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-webgrid-'));
  const relay = await startRelay({ port: 0, webRoot: path.resolve('dist/web') });
  const nodes = await Promise.all(
    Array.from({ length: servers }, (_, i) =>
      startStorageNode({
        dir: path.join(dir, `server-${i}`),
        port: 0,
        relayUrl: relay.url,
        nickname: `server-${i}`,
      }),
    ),
  );
  return {
    url: `${relay.url}/`,
    relay,
    nodes,
    dirs: nodes.map((_, i) => path.join(dir, `server-${i}`)),
    async waitForServers(count) {
      await waitFor(() => relay.registry.list().length >= count, {
        what: `the relay to list ${count} servers`,
        detail: () => `it lists ${relay.registry.list().length}`,
      });
    },
    async close() {
      await Promise.all(nodes.map((n) => n.close().catch(() => {})));
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
