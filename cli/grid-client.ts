/**
 * What `cairn put` and `cairn get` share: the grid URL, the client's secrets, and live
 * connections to the grid's storage servers. The server list comes from the relay and is
 * cached (signed) in the CLI home, so a grid whose relay is down can still be used.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CLIENT_SECRET_LENGTH, parseClientSecret } from '../core/grid/lease.ts';
import { base32Decode, base32Encode } from '../core/primitives/base32.ts';
import type { StorageConnection } from '../core/protocol/client.ts';
import {
  decodeServerList,
  encodeServerList,
  fetchGridServers,
  type GridServer,
} from '../core/protocol/grid.ts';
import { connectToServer } from '../core/grid/connect.ts';
import { NoServersError } from '../core/grid/errors.ts';
import { UsageError } from './command.ts';
import { cairnHome } from './paths.ts';

/** A private file in the CLI home, created with `make()` on first use (mode 0600). */
async function privateValue(name: string, make: () => string): Promise<string> {
  const file = path.join(cairnHome(), 'private', name);
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    await fs.writeFile(file, `${make()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another cairn process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await fs.readFile(file, 'utf8')).trim();
}

/** The client's lease secret (Tahoe's private/secret): leases on every share it uploads derive from it. */
export async function clientSecret(): Promise<Uint8Array> {
  return parseClientSecret(
    await privateValue('secret', () => base32Encode(new Uint8Array(randomBytes(CLIENT_SECRET_LENGTH)))),
  );
}

/** The client's convergence secret (Tahoe's private/convergence): same file, same cap, for this client. */
export async function convergenceSecret(): Promise<Uint8Array> {
  return base32Decode(await privateValue('convergence', () => base32Encode(new Uint8Array(randomBytes(32)))));
}

/** Where `cairn grid` records the URL of the grid it started last. */
export const lastGridFile = () => path.join(cairnHome(), 'grid-url');

/** `--grid URL`, else the grid `cairn grid` started last. */
export async function gridUrl(flag: string | undefined): Promise<string> {
  if (flag !== undefined) {
    let u: URL;
    try {
      u = new URL(flag);
    } catch {
      throw new UsageError('--grid must be the relay URL, http://HOST:PORT');
    }
    if (!/^(https?|wss?):$/.test(u.protocol))
      throw new UsageError('--grid must be the relay URL, http://HOST:PORT');
    return flag;
  }
  try {
    const text = (await fs.readFile(lastGridFile(), 'utf8')).trim();
    if (text) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  throw new UsageError(
    'no grid given and none started here: run `cairn grid` or pass --grid http://HOST:PORT',
  );
}

function cacheFile(url: string): string {
  const host = new URL(url).host.replace(/[^A-Za-z0-9.-]/g, '_');
  return path.join(cairnHome(), 'servers', `${host}.cbor`);
}

/** The relay's server list, falling back to the cached copy when the relay cannot be reached. */
export async function gridServers(url: string, warn: (line: string) => void): Promise<GridServer[]> {
  const file = cacheFile(url);
  try {
    const servers = await fetchGridServers(url, { timeoutMs: 5_000 });
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, encodeServerList(servers.map((s) => s.signed)));
    await fs.rename(tmp, file);
    return servers;
  } catch (err) {
    let cached: Uint8Array;
    try {
      cached = await fs.readFile(file);
    } catch {
      throw err;
    }
    // Signatures are checked again; expired entries are kept: old news beats none.
    const servers = decodeServerList(cached, Date.now(), true);
    warn(`${(err as Error).message}; using the ${servers.length} server(s) it listed last time`);
    return servers;
  }
}

export interface GridSession {
  readonly url: string;
  /** Servers the relay (or cache) listed. */
  readonly listed: number;
  readonly connections: StorageConnection[];
  close(): void;
}

/** Connects to every listed server (its own URL first, else through the relay), in parallel. */
export async function connectGrid(
  flag: string | undefined,
  warn: (line: string) => void,
): Promise<GridSession> {
  const url = await gridUrl(flag);
  const servers = await gridServers(url, warn);
  const attempts = await Promise.all(
    servers.map(async (s) => {
      try {
        return await connectToServer(s, url, { connectTimeoutMs: 5_000 });
      } catch (err) {
        warn(`cannot reach server ${s.serverId.slice(0, 12)}…: ${(err as Error).message}`);
        return null;
      }
    }),
  );
  const connections = attempts.filter((c): c is StorageConnection => c !== null);
  const session = {
    url,
    listed: servers.length,
    connections,
    close() {
      for (const c of connections) c.close();
    },
  };
  if (connections.length === 0) {
    throw new NoServersError(
      servers.length === 0
        ? 'the grid lists no storage servers'
        : `none of the ${servers.length} storage server(s) the grid lists could be reached`,
    );
  }
  return session;
}
