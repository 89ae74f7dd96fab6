/**
 * The CLI's adapter to core/client: the grid URL, the client's secrets and the server-list
 * cache, all kept in the CLI home, handed to a core Grid. The list is cached signed, so a
 * grid whose relay is down can still be used.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CLIENT_SECRET_LENGTH, parseClientSecret } from '../core/grid/lease.ts';
import { base32Decode, base32Encode } from '../core/primitives/base32.ts';
import { Grid, type ServerListCache } from '../core/client/index.ts';
import { loadCodec } from '../core/codec/index.ts';
import { nodeCrypto } from '../core/primitives/crypto-node.ts';
import { UsageError } from './command.ts';
import { joinedGrid } from './grid-config.ts';
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

const NO_GRID = 'no grid given and none started here: run `cairn grid` or pass --grid http://HOST:PORT';

const GRID_URL_FORM =
  '--grid must be the URL of the relay or of any storage server of the grid, http://HOST:PORT';

/** `--grid URL`, else the grid joined (`cairn join`), else the grid `cairn grid` started last, else null. */
export async function gridUrl(flag: string | undefined): Promise<string | null> {
  if (flag !== undefined) {
    let u: URL;
    try {
      u = new URL(flag);
    } catch {
      throw new UsageError(GRID_URL_FORM);
    }
    if (!/^(https?|wss?):$/.test(u.protocol)) throw new UsageError(GRID_URL_FORM);
    return flag;
  }
  const joined = await joinedGrid();
  if (joined) return joined.grid[0];
  try {
    const text = (await fs.readFile(lastGridFile(), 'utf8')).trim();
    if (text) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return null;
}

function cacheFile(url: string): string {
  const host = new URL(url).host.replace(/[^A-Za-z0-9.-]/g, '_');
  return path.join(cairnHome(), 'servers', `${host}.cbor`);
}

/** The server list cache of the CLI: one file per grid in the CLI home. */
export const fileServerListCache: ServerListCache = {
  async load(url) {
    try {
      return new Uint8Array(await fs.readFile(cacheFile(url)));
    } catch {
      return null;
    }
  },
  async save(url, list) {
    const file = cacheFile(url);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, list);
    await fs.rename(tmp, file);
  },
};

/**
 * The grid a command works on (`--grid URL`, else the one joined, else the last one `cairn
 * grid` started), using only servers certified by the grid managers the joined grid names.
 */
export async function openGrid(flag: string | undefined, warn: (line: string) => void): Promise<Grid> {
  const joined = await joinedGrid();
  const url = await gridUrl(flag);
  return new Grid({
    url,
    gridManagers: joined?.gridManagers,
    seeds: joined?.grid.filter((u) => u !== url),
    noGrid: () => new UsageError(NO_GRID),
    cache: fileServerListCache,
    warn,
    // Once per process: every file of a `cp -r` asked for them, and each ask instantiated a
    // fresh wasm codec (~3 ms) and read both secret files again. The codec's calls are
    // synchronous, so uploads in flight at once can share one instance.
    tools: onceSettled(async () => ({ backend: nodeCrypto, codec: await loadCodec() })),
    secrets: onceSettled(async () => ({
      lease: await clientSecret(),
      convergence: await convergenceSecret(),
    })),
  });
}

/** `fn`'s promise, made once and shared; a failure is not kept (the next call tries again). */
function onceSettled<T>(fn: () => Promise<T>): () => Promise<T> {
  let held: Promise<T> | null = null;
  return () => {
    if (!held) {
      const p = fn();
      held = p;
      p.catch(() => {
        if (held === p) held = null;
      });
    }
    return held;
  };
}
