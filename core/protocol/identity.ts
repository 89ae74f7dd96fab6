/**
 * Server identity: an ed25519 key pair. The ServerId is `v0-` + base32(public key), as
 * Tahoe names its nodes; the permutation seed (tahoe-formats §6.1) is the decoded 32 bytes.
 * Pure functions: bytes in, bytes out.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base32Decode, base32Encode } from '../primitives/base32.ts';
import { concatBytes, utf8 } from '../primitives/bytes.ts';
import { taggedHash } from '../primitives/tagged-hash.ts';
import { type ServerId, asServerId } from '../types.ts';
import { ProtocolError } from './errors.ts';
import { HANDSHAKE_CHALLENGE_BYTES } from './limits.ts';

// A small base-point table: noble's default (window 8) takes 100–400 ms to build on first
// use, in every server process and every CLI run; window 4 builds in ~10 ms, and signing
// (a handshake per connection, an announcement a minute) stays ~2 ms.
ed25519.Point.BASE.precompute(4);

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
    if (ed25519.Point.fromBytes(key).isSmallOrder()) throw new Error('small order');
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
  const publicKey = ed25519.getPublicKey(secretKey);
  return { secretKey, publicKey, serverId: serverIdFromPublicKey(publicKey) };
}

export function generateKeyPair(): ServerKeyPair {
  return keyPairFromSecret(ed25519.utils.randomSecretKey());
}

/** Signs `message` under a domain tag, so a signature made for one purpose never verifies for another. */
export function signTagged(
  key: Pick<ServerKeyPair, 'secretKey'>,
  tag: string,
  message: Uint8Array,
): Uint8Array {
  return ed25519.sign(taggedMessage(tag, message), key.secretKey);
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

// In Node, OpenSSL's ed25519: ~15x faster than noble's JavaScript, with no tables to build,
// and every CLI start checks ten announcements and ten handshakes. Elsewhere (the tab), noble.
// Both check RFC 8032's cofactorless equation with S < L and R compared as encoded; noble
// (zip215 false) also refuses a key whose y is not below p, which OpenSSL may reduce: such
// keys go to noble.
type NodeCrypto = typeof import('node:crypto');
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?(id: string): unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
const ED25519_SPKI_HEAD = new Uint8Array([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

/** RFC 8032 verification of `signature` (64 bytes) over `message` by `publicKey` (32 bytes). */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (nodeCrypto && publicKey.length === PUBLIC_KEY_BYTES && isCanonicalY(publicKey)) {
    const key = nodeCrypto.createPublicKey({
      key: Buffer.from(concatBytes(ED25519_SPKI_HEAD, publicKey)), // Node only, as is this branch
      format: 'der',
      type: 'spki',
    });
    return nodeCrypto.verify(null, message, key, signature);
  }
  return ed25519.verify(signature, message, publicKey, { zip215: false });
}

/** Whether an encoded point's y (the low 255 bits, little-endian) is below p = 2^255 - 19. */
function isCanonicalY(encoded: Uint8Array): boolean {
  if ((encoded[31] & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (encoded[i] !== 0xff) return true;
  return encoded[0] < 0xed;
}

/** True when `key` is 32 bytes naming an ed25519 point that is not of small order. */
export function isUsablePublicKey(key: Uint8Array): boolean {
  try {
    return key.length === PUBLIC_KEY_BYTES && !ed25519.Point.fromBytes(key).isSmallOrder();
  } catch {
    return false;
  }
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
