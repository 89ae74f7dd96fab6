/**
 * Real storage servers (StorageServer + DiskBackend in temp dirs) reached through the real
 * protocol client, over an in-process loopback transport instead of a socket. Faults are
 * injected at the edges only: a server can be killed (its connection drops), blackholed
 * (requests are swallowed: a stall), or made to flip bits in what it serves.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectOverTransport, type StorageConnection } from '../../core/protocol/client.ts';
import { generateKeyPair, serverLeaseSeed } from '../../core/protocol/identity.ts';
import type { StorageServerApi } from '../../core/protocol/storage-api.ts';
import type { Transport } from '../../core/protocol/transport.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { RequestHandler } from '../../server/handler.ts';
import { StorageServer } from '../../server/storage-server.ts';

export interface TestServer {
  readonly dir: string;
  readonly server: StorageServer;
  readonly conn: StorageConnection;
  /** A new connection to the same server (as a client that restarted or reconnected makes). */
  connect(): Promise<StorageConnection>;
  /** Drops the connection, as a crashed process would. */
  kill(): void;
  /** From now on requests get no reply (a stalled server). */
  blackhole(): void;
}

function loopback(handler: RequestHandler): { transport: Transport; kill(): void; blackhole(): void } {
  let open = true;
  let silent = false;
  const transport: Transport = {
    send(frame) {
      // Copy: a real socket would not share the sender's buffer with the server.
      if (open && !silent) setImmediate(() => session.frame(frame.slice()));
    },
    bufferedAmount: 0,
    onFrame: () => {},
    onClose: () => {},
    close() {
      kill();
    },
  };
  const session = handler.session((reply) => {
    if (open && !silent) setImmediate(() => open && transport.onFrame(reply.frame));
  });
  const kill = () => {
    if (!open) return;
    open = false;
    session.close();
    setImmediate(() => transport.onClose('the server went away'));
  };
  return {
    transport,
    kill,
    blackhole() {
      silent = true;
    },
  };
}

export async function startServer(dir: string): Promise<TestServer> {
  const key = generateKeyPair();
  const server = new StorageServer({ backend: new DiskBackend(dir), nodeId: serverLeaseSeed(key.serverId) });
  await server.start();
  const handler = new RequestHandler(server, key);
  const link = loopback(handler);
  const conn = await connectOverTransport(link.transport, key.serverId, { requestTimeoutMs: 20_000 });
  const connect = () =>
    connectOverTransport(loopback(handler).transport, key.serverId, { requestTimeoutMs: 20_000 });
  return { dir, server, conn, connect, kill: link.kill, blackhole: link.blackhole };
}

export interface TestGrid {
  readonly servers: TestServer[];
  readonly connections: StorageConnection[];
  cleanup(): Promise<void>;
}

export async function startGrid(count: number): Promise<TestGrid> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-grid-'));
  const servers: TestServer[] = [];
  for (let i = 0; i < count; i++) servers.push(await startServer(path.join(root, `s${i}`)));
  return {
    servers,
    connections: servers.map((s) => s.conn),
    async cleanup() {
      for (const s of servers) {
        s.conn.close();
        await s.server.stop();
      }
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

/** A view of `api` whose reads come back with one bit flipped (a lying or failing disk). */
export function flipBits(api: StorageServerApi): StorageServerApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      if (prop === 'readShare') {
        return async (...args: Parameters<StorageServerApi['readShare']>) => {
          const bytes = (await target.readShare(...args)).slice();
          if (bytes.length > 0) bytes[bytes.length >> 1] ^= 0x10;
          return bytes;
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
