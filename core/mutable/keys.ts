/**
 * The keys of a mutable file (reference/tahoe-formats.md §4.2), as pure functions: bytes in,
 * bytes out. One RSA key pair gives everything:
 *   writekey = H(privkey PKCS#8)      readkey = H(writekey)      storage index = H(readkey)
 *   fingerprint = H(pubkey SPKI)      write enabler per server = H(H(writekey), server id)
 *   data key per segment = H(salt, readkey)     encprivkey = AES-CTR(writekey)(privkey)
 */
import { aesCtrSync } from '#crypto-backend';
import { InputError } from '../errors.ts';
import type { Pkcs8Der, SpkiDer } from '../primitives/rsa.ts';
import {
  TAG_PRIVKEY_TO_WRITEKEY,
  TAG_PUBKEY_TO_FINGERPRINT,
  TAG_READKEY_TO_DATAKEY,
  TAG_READKEY_TO_STORAGE_INDEX,
  TAG_WE_MASTER_AND_NODEID_TO_WE,
  TAG_WRITEKEY_TO_READKEY,
  TAG_WRITEKEY_TO_WE_MASTER,
} from '../primitives/tags.ts';
import { taggedHash, taggedPairHash } from '../primitives/tagged-hash.ts';
import { type AesKey, asAesKey, asStorageIndex, type StorageIndex } from '../types.ts';

declare const brand: unique symbol;
/** 16-byte key that grants writing (secret). */
export type WriteKey = AesKey & { readonly [brand]: 'WriteKey' };
/** 16-byte key that grants reading (secret). */
export type ReadKey = AesKey & { readonly [brand]: 'ReadKey' };
/** 32-byte hash of the public key: what every share's key is checked against. */
export type Fingerprint = Uint8Array & { readonly [brand]: 'Fingerprint' };

export const asWriteKey = (b: Uint8Array) => b as WriteKey;
export const asReadKey = (b: Uint8Array) => b as ReadKey;
export const asFingerprint = (b: Uint8Array) => b as Fingerprint;

export function writeKeyOf(privateKey: Pkcs8Der): WriteKey {
  return asWriteKey(taggedHash(TAG_PRIVKEY_TO_WRITEKEY, privateKey, 16));
}

export function readKeyOf(writeKey: WriteKey): ReadKey {
  return asReadKey(taggedHash(TAG_WRITEKEY_TO_READKEY, writeKey, 16));
}

export function mutableStorageIndex(readKey: ReadKey): StorageIndex {
  return asStorageIndex(taggedHash(TAG_READKEY_TO_STORAGE_INDEX, readKey, 16));
}

export function fingerprintOf(publicKey: SpkiDer): Fingerprint {
  return asFingerprint(taggedHash(TAG_PUBKEY_TO_FINGERPRINT, publicKey));
}

/** The write-enabler master: per-server write enablers derive from it. */
export function writeEnablerMaster(writeKey: WriteKey): Uint8Array {
  return taggedHash(TAG_WRITEKEY_TO_WE_MASTER, writeKey);
}

/** What one server checks before it lets a slot be changed; `serverNodeId` is its 20-byte id. */
export function writeEnabler(master: Uint8Array, serverNodeId: Uint8Array): Uint8Array {
  if (serverNodeId.length !== 20) throw new InputError('a server node id is 20 bytes');
  return taggedPairHash(TAG_WE_MASTER_AND_NODEID_TO_WE, master, serverNodeId);
}

/** The AES key of one segment (SDMF: of the file) from its 16-byte salt. */
export function dataKeyOf(salt: Uint8Array, readKey: ReadKey): AesKey {
  if (salt.length !== 16) throw new InputError('a mutable segment salt is 16 bytes');
  return asAesKey(taggedPairHash(TAG_READKEY_TO_DATAKEY, salt, readKey, 16));
}

/** The private key as shares carry it: AES-128-CTR under the write key (its own inverse). */
export function cryptPrivateKey(writeKey: WriteKey, bytes: Uint8Array): Uint8Array {
  return aesCtrSync(asAesKey(writeKey), 0, bytes);
}
