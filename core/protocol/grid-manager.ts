/**
 * Grid admission, after Tahoe's grid manager (docs/managed-grid.rst): a grid manager is an
 * ed25519 key; it signs certificates saying "clients of this grid may store shares on
 * server X until T". A server carries its certificates inside its signed announcement; a
 * client configured with one or more manager keys uses only servers holding a certificate
 * from one of them that names the server and has not expired. Anyone can still announce a
 * server; only the manager can make clients use it.
 *
 * Certificate: CBOR `{v: 1, serverId, expires}` (`expires` in ms since the epoch), signed
 * under the tag "cairn-grid-manager-certificate-v1". A manager's id is `gm-v0-` + base32 of
 * its public key, as a server's is `v0-` + base32 of its own.
 */
import { base32Decode, base32Encode } from '../primitives/base32.ts';
import type { ServerId } from '../types.ts';
import { decodeCbor, encodeCbor, Fields } from './cbor.ts';
import { CairnError } from '../errors.ts';
import { isServerId, isUsablePublicKey, signTagged, verifyTaggedWithKey } from './identity.ts';

declare const managerBrand: unique symbol;
/** A grid manager's public identity, `gm-v0-` + base32(ed25519 public key): what clients configure. */
export type GridManagerId = string & { readonly [managerBrand]: 'GridManagerId' };

export interface SignedCertificate {
  body: Uint8Array;
  signature: Uint8Array;
}

export interface Certificate {
  serverId: ServerId;
  /** Milliseconds since the epoch after which clients no longer trust it. */
  expires: number;
}

export type GridManagerErrorCode = 'BAD_GRID_MANAGER_KEY' | 'BAD_CERTIFICATE';

export class GridManagerError extends CairnError {
  declare readonly code: GridManagerErrorCode;
  constructor(code: GridManagerErrorCode, message: string) {
    super(code, message);
  }
}

const PREFIX = 'gm-v0-';
const TAG = 'cairn-grid-manager-certificate-v1';
const MAX_CERT_BODY = 256;
/** Certificates an announcement carries at most (a server in a few managed grids). */
export const MAX_ANNOUNCED_CERTIFICATES = 4;

export function gridManagerId(publicKey: Uint8Array): GridManagerId {
  if (!isUsablePublicKey(publicKey)) {
    throw new GridManagerError('BAD_GRID_MANAGER_KEY', 'a grid manager key is a 32-byte ed25519 public key');
  }
  return `${PREFIX}${base32Encode(publicKey)}` as GridManagerId;
}

/** Checks the text form of a manager's id; throws BAD_GRID_MANAGER_KEY with what to give instead. */
export function parseGridManagerId(text: string): GridManagerId {
  const t = text.trim();
  const bad = () =>
    new GridManagerError(
      'BAD_GRID_MANAGER_KEY',
      'a grid manager key is "gm-v0-" and 52 base32 characters (`cairn grid-manager public-identity` prints it)',
    );
  if (!t.startsWith(PREFIX) || t.length !== PREFIX.length + 52) throw bad();
  let key: Uint8Array;
  try {
    key = base32Decode(t.slice(PREFIX.length));
  } catch {
    throw bad();
  }
  if (!isUsablePublicKey(key)) throw bad();
  return t as GridManagerId;
}

function managerPublicKey(id: GridManagerId): Uint8Array {
  return base32Decode(id.slice(PREFIX.length));
}

export function signCertificate(managerSecretKey: Uint8Array, cert: Certificate): SignedCertificate {
  const body = encodeCbor({ v: 1, serverId: cert.serverId, expires: cert.expires });
  return { body, signature: signTagged({ secretKey: managerSecretKey }, TAG, body) };
}

/** The certificate's fields, checked for form only (NOT its signature). Throws BAD_CERTIFICATE. */
export function readCertificate(signed: SignedCertificate): Certificate {
  try {
    const f = new Fields(decodeCbor(signed.body, MAX_CERT_BODY), 'certificate');
    if (f.uint('v', 1000) !== 1) throw new Error('unknown certificate version');
    const serverId = f.string('serverId', 100);
    if (!isServerId(serverId)) throw new Error('it names no valid server id');
    return { serverId, expires: f.uint('expires', Number.MAX_SAFE_INTEGER) };
  } catch (err) {
    throw new GridManagerError(
      'BAD_CERTIFICATE',
      `not a grid manager certificate: ${(err as Error).message}`,
    );
  }
}

/**
 * The manager among `managers` that certifies `serverId` at `now` through one of `certs`,
 * or null. A certificate for another server, an expired one, or one no configured manager
 * signed certifies nothing.
 */
export function certifiedBy(
  certs: readonly SignedCertificate[],
  serverId: ServerId,
  managers: readonly GridManagerId[],
  now: number,
): GridManagerId | null {
  for (const cert of certs) {
    let c: Certificate;
    try {
      c = readCertificate(cert);
    } catch {
      continue;
    }
    if (c.serverId !== serverId || c.expires <= now) continue;
    for (const m of managers) {
      if (verifyTaggedWithKey(managerPublicKey(m), TAG, cert.body, cert.signature)) return m;
    }
  }
  return null;
}

/**
 * A certificate as a file (what `cairn grid-manager add-storage` writes and `cairn server
 * --grid-manager-cert` reads): JSON with the signed bytes in base32, and the server and
 * expiry spelled out for people (the signed bytes are what count).
 */
export function certificateToText(signed: SignedCertificate): string {
  const c = readCertificate(signed);
  return `${JSON.stringify(
    {
      'cairn-grid-manager-certificate': 1,
      serverId: c.serverId,
      expires: new Date(c.expires).toISOString(),
      body: base32Encode(signed.body),
      signature: base32Encode(signed.signature),
    },
    null,
    2,
  )}\n`;
}

export function certificateFromText(text: string): SignedCertificate {
  let o: { body?: unknown; signature?: unknown };
  try {
    o = JSON.parse(text);
  } catch {
    throw new GridManagerError(
      'BAD_CERTIFICATE',
      'a certificate file is JSON, as `cairn grid-manager add-storage` writes it',
    );
  }
  if (typeof o?.body !== 'string' || typeof o.signature !== 'string') {
    throw new GridManagerError('BAD_CERTIFICATE', 'a certificate file has "body" and "signature" (base32)');
  }
  let signed: SignedCertificate;
  try {
    signed = { body: base32Decode(o.body), signature: base32Decode(o.signature) };
  } catch {
    throw new GridManagerError('BAD_CERTIFICATE', "the certificate's body or signature is not base32");
  }
  if (signed.signature.length !== 64)
    throw new GridManagerError('BAD_CERTIFICATE', "the certificate's signature is not 64 bytes");
  readCertificate(signed);
  return signed;
}
