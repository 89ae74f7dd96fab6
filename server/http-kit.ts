/**
 * hono and its Node adapter, loaded on first use. Only what serves HTTP (a storage server, a
 * relay, `cairn grid`) needs them, and importing them cost every other `cairn` command
 * ~60-75 ms of CPU at start. Dynamic imports, because esbuild hoists a package's static
 * imports to the top of a bundle, lazily evaluated module or not.
 */
import type { serve, upgradeWebSocket } from '@hono/node-server';
import type { serveStatic } from '@hono/node-server/serve-static';
import type { Hono } from 'hono';
import type { bodyLimit } from 'hono/body-limit';

export interface HttpKit {
  Hono: typeof Hono;
  serve: typeof serve;
  upgradeWebSocket: typeof upgradeWebSocket;
  bodyLimit: typeof bodyLimit;
  serveStatic: typeof serveStatic;
}

let loading: Promise<HttpKit> | undefined;

export function loadHttpKit(): Promise<HttpKit> {
  loading ??= Promise.all([
    import('hono'),
    import('@hono/node-server'),
    import('hono/body-limit'),
    import('@hono/node-server/serve-static'),
  ]).then(([hono, node, limit, stat]) => ({
    Hono: hono.Hono,
    serve: node.serve,
    upgradeWebSocket: node.upgradeWebSocket,
    bodyLimit: limit.bodyLimit,
    serveStatic: stat.serveStatic,
  }));
  return loading;
}
