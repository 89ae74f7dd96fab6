/**
 * Server identity: an ed25519 key pair. The ServerId is `v0-` + base32(public key), as
 * Tahoe names its nodes; the permutation seed (tahoe-formats §6.1) is the decoded 32 bytes.
 * Pure functions: bytes in, bytes out.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify, isUsablePoint } from '#ed25519';
import { base32Decode, base32Encode } from '../primitives/base32.ts';
import { concatBytes, utf8 } from '../primitives/bytes.ts';
import { taggedHash } from '../primitives/tagged-hash.ts';
import { type ServerId, asServerId } from '../types.ts';
import { ProtocolError } from './errors.ts';
import { HANDSHAKE_CHALLENGE_BYTES } from './limits.ts';

const PREFIX = 'v0-';
const PUBLIC_KEY_BYTES = 32;
const SERVER_ID_LENGTH = PREFIX.length + 52;

/** The ServerId for an ed25519 public key. */
export function serverIdFromPublicKey(publicKey: Uint8Array): ServerId {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new ProtocolError('BAD_SERVER_ID', `an ed25519 public key is 32 bytes, not ${publicKey.length}`);
  }
  return asServerId(PREFIX + base32Encode(publicKey));
}

/**
 * Ids that passed serverIdPublicKey's check, with their keys. Decoding the point takes
 * ~0.15 ms, and a client asks for each server's key twice per file it uploads (lease and
 * upload secrets): 3 ms of CPU per file on a 10-server grid before this (bench:tree's
 * cp -r). Bounded, so a stream of made-up ids cannot grow it.
 */
const checkedIds = new Map<string, Uint8Array>();
const CHECKED_IDS_MAX = 1024;

/**
 * The 32-byte public key inside a ServerId; also Tahoe's permutation seed for it.
 * Rejects malformed ids and keys that are not usable points (small order), since any
 * signature "verifies" against those.
 */
export function serverIdPublicKey(serverId: string): Uint8Array {
  const known = checkedIds.get(serverId);
  if (known) return known.slice();
  if (typeof serverId !== 'string' || serverId.length !== SERVER_ID_LENGTH || !serverId.startsWith(PREFIX)) {
    throw new ProtocolError('BAD_SERVER_ID', 'a server id is "v0-" followed by 52 base32 characters');
  }
  let key: Uint8Array;
  try {
    key = base32Decode(serverId.slice(PREFIX.length));
    if (!isUsablePoint(key)) throw new Error('no point, or of small order');
  } catch {
    throw new ProtocolError('BAD_SERVER_ID', 'the server id does not hold a valid ed25519 public key');
  }
  if (checkedIds.size >= CHECKED_IDS_MAX) checkedIds.clear();
  checkedIds.set(serverId, key.slice());
  return key;
}

export function isServerId(s: unknown): s is ServerId {
  try {
    serverIdPublicKey(s as string);
    return true;
  } catch {
    return false;
  }
}

/**
 * The 20-byte per-server seed that stands where Tahoe uses the server's Tub ID: in lease
 * secrets (§7.4 `lease_seed`) and write enablers (§4.2 `write_enabler(server)`), and as
 * the node id a mutable container records. Stable for the life of the key:
 * `taggedHash("cairn_server_lease_seed_v1", publicKey)[0:20]`.
 */
export function serverLeaseSeed(serverId: ServerId): Uint8Array {
  let seed = leaseSeeds.get(serverId);
  if (!seed) {
    if (leaseSeeds.size >= MAX_LEASE_SEEDS) leaseSeeds.clear();
    seed = taggedHash('cairn_server_lease_seed_v1', serverIdPublicKey(serverId), 20);
    leaseSeeds.set(serverId, seed);
  }
  return seed.slice();
}

/**
 * Seeds already derived: every upload asks for each server's seed (lease and upload secrets),
 * and deriving it decodes the id and hashes (about 0.1 ms, ten servers per small file).
 * Bounded, though a client knows only a relay list's worth of servers.
 */
const leaseSeeds = new Map<ServerId, Uint8Array>();
const MAX_LEASE_SEEDS = 4096;

export interface ServerKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  serverId: ServerId;
}

export function keyPairFromSecret(secretKey: Uint8Array): ServerKeyPair {
  if (secretKey.length !== 32) throw new ProtocolError('BAD_KEY', 'an ed25519 secret key is 32 bytes');
  const publicKey = ed25519PublicKey(secretKey);
  return { secretKey, publicKey, serverId: serverIdFromPublicKey(publicKey) };
}

export function generateKeyPair(): ServerKeyPair {
  return keyPairFromSecret(randomBytes(32));
}

/** Signs `message` under a domain tag, so a signature made for one purpose never verifies for another. */
export function signTagged(
  key: Pick<ServerKeyPair, 'secretKey'>,
  tag: string,
  message: Uint8Array,
): Uint8Array {
  return ed25519Sign(taggedMessage(tag, message), key.secretKey);
}

export function verifyTagged(
  serverId: ServerId,
  tag: string,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  let publicKey: Uint8Array;
  try {
    publicKey = serverIdPublicKey(serverId);
  } catch {
    return false;
  }
  return verifyTaggedWithKey(publicKey, tag, message, signature);
}

/**
 * `verifyTagged` for a key that is not a server's (a grid manager's). The caller has
 * checked the key is a usable point (not small order): any signature verifies against those.
 */
export function verifyTaggedWithKey(
  publicKey: Uint8Array,
  tag: string,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  try {
    return ed25519Verify(signature, taggedMessage(tag, message), publicKey);
  } catch {
    return false;
  }
}

export { ed25519Verify };

/** True when `key` is 32 bytes naming an ed25519 point that is not of small order. */
export function isUsablePublicKey(key: Uint8Array): boolean {
  // Both ed25519 modules answer false for bytes that name no point; neither throws.
  return key.length === PUBLIC_KEY_BYTES && isUsablePoint(key);
}

function taggedMessage(tag: string, message: Uint8Array): Uint8Array {
  const t = utf8(tag);
  return concatBytes(utf8(`${t.length}:`), t, utf8(','), message);
}

const HANDSHAKE_TAG = 'cairn-storage-handshake-v1';

/**
 * The server's proof of identity inside a connection: a signature over the client's
 * random challenge and the id the server claims. Works the same through the relay,
 * which cannot sign, so it cannot pose as the server.
 */
export function signHandshake(key: ServerKeyPair, challenge: Uint8Array): Uint8Array {
  return signTagged(key, HANDSHAKE_TAG, handshakeMessage(key.serverId, challenge));
}

export function verifyHandshake(serverId: ServerId, challenge: Uint8Array, signature: Uint8Array): boolean {
  return verifyTagged(serverId, HANDSHAKE_TAG, handshakeMessage(serverId, challenge), signature);
}

function handshakeMessage(serverId: ServerId, challenge: Uint8Array): Uint8Array {
  if (challenge.length !== HANDSHAKE_CHALLENGE_BYTES) {
    throw new ProtocolError('BAD_REQUEST', `a handshake challenge is ${HANDSHAKE_CHALLENGE_BYTES} bytes`);
  }
  return concatBytes(challenge, utf8(serverId));
}
