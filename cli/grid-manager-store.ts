/**
 * A grid manager's state on disk (`cairn grid-manager --dir DIR`, default CAIRN_HOME/grid-manager):
 *   DIR/private/manager.key   the ed25519 secret key, base32 (folder 0700, file 0600)
 *   DIR/servers.json          the storage servers it has certified: name → server id and
 *                             the expiry of each certificate issued
 *   DIR/certs/NAME.cert       the latest certificate issued to NAME (what the server uses)
 * The key never leaves the private file; nothing here is printed but the public id.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ed25519PublicKey } from '#ed25519';
import { CairnError } from '../core/errors.ts';
import { base32Decode, base32Encode } from '../core/primitives/base32.ts';
import {
  type GridManagerId,
  gridManagerId,
  type SignedCertificate,
  signCertificate,
} from '../core/protocol/grid-manager.ts';
import type { ServerId } from '../core/types.ts';
import { cairnHome } from './paths.ts';

export type GridManagerStoreCode = 'NO_GRID_MANAGER' | 'GRID_MANAGER_EXISTS' | 'UNKNOWN_STORAGE_SERVER';

export class GridManagerStoreError extends CairnError {
  declare readonly code: GridManagerStoreCode;
  constructor(code: GridManagerStoreCode, message: string) {
    super(code, message);
  }
}

export interface CertifiedServer {
  name: string;
  serverId: ServerId;
  /** Expiry (ISO 8601) of every certificate issued to it, oldest first. */
  certificates: string[];
}

interface ServersFile {
  version: 1;
  servers: Record<string, { serverId: ServerId; certificates: string[] }>;
}

export const defaultManagerDir = (): string => path.join(cairnHome(), 'grid-manager');

const keyFile = (dir: string) => path.join(dir, 'private', 'manager.key');
const serversFile = (dir: string) => path.join(dir, 'servers.json');
export const certFile = (dir: string, name: string) => path.join(dir, 'certs', `${name}.cert`);

/** Makes a new manager key in `dir`; refuses to replace one (that would orphan every certificate). */
export async function createManager(dir: string): Promise<GridManagerId> {
  await fs.mkdir(path.dirname(keyFile(dir)), { recursive: true, mode: 0o700 });
  const secret = new Uint8Array(randomBytes(32));
  try {
    await fs.writeFile(keyFile(dir), `${base32Encode(secret)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new GridManagerStoreError(
        'GRID_MANAGER_EXISTS',
        `${dir} already holds a grid manager key; a new one would make every certificate it issued worthless (use another --dir)`,
      );
    }
    throw err;
  }
  await writeServers(dir, { version: 1, servers: {} });
  return gridManagerId(ed25519PublicKey(secret));
}

async function secretKey(dir: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await fs.readFile(keyFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new GridManagerStoreError(
        'NO_GRID_MANAGER',
        `no grid manager in ${dir}: run \`cairn grid-manager create\` (or give --dir)`,
      );
    }
    throw err;
  }
  const key = base32Decode(text.trim());
  if (key.length !== 32)
    throw new GridManagerStoreError('NO_GRID_MANAGER', `${keyFile(dir)} is not a grid manager key`);
  return key;
}

export async function managerId(dir: string): Promise<GridManagerId> {
  return gridManagerId(ed25519PublicKey(await secretKey(dir)));
}

async function readServers(dir: string): Promise<ServersFile> {
  await secretKey(dir); // a clear error when there is no manager here
  try {
    return JSON.parse(await fs.readFile(serversFile(dir), 'utf8')) as ServersFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} };
    throw err;
  }
}

async function writeServers(dir: string, data: ServersFile): Promise<void> {
  const file = serversFile(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`);
  await fs.rename(tmp, file);
}

/** Certifies `serverId` under `name` until `expires` (ms); records it and writes certs/NAME.cert. */
export async function addStorage(
  dir: string,
  name: string,
  serverId: ServerId,
  expires: number,
  toText: (c: SignedCertificate) => string,
): Promise<{ certificate: SignedCertificate; file: string }> {
  const data = await readServers(dir);
  const known = data.servers[name];
  if (known && known.serverId !== serverId) {
    throw new GridManagerStoreError(
      'UNKNOWN_STORAGE_SERVER',
      `'${name}' is server ${known.serverId}; remove it first or pick another name`,
    );
  }
  const certificate = signCertificate(await secretKey(dir), { serverId, expires });
  data.servers[name] = {
    serverId,
    certificates: [...(known?.certificates ?? []), new Date(expires).toISOString()],
  };
  const file = certFile(dir, name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, toText(certificate));
  await writeServers(dir, data);
  return { certificate, file };
}

export async function listStorage(dir: string): Promise<CertifiedServer[]> {
  const data = await readServers(dir);
  return Object.entries(data.servers).map(([name, s]) => ({ name, ...s }));
}

/** Forgets `name` and its certificate file. Certificates already handed out stay valid until they expire. */
export async function removeStorage(dir: string, name: string): Promise<CertifiedServer> {
  const data = await readServers(dir);
  const s = data.servers[name];
  if (!s)
    throw new GridManagerStoreError(
      'UNKNOWN_STORAGE_SERVER',
      `no storage server named '${name}' (cairn grid-manager list)`,
    );
  delete data.servers[name];
  await writeServers(dir, data);
  await fs.rm(certFile(dir, name), { force: true });
  return { name, ...s };
}
