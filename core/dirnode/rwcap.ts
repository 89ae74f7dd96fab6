/**
 * A child's write cap as a mutable directory stores it (§5.1, §1.8): only holders of the
 * directory's write key can decrypt it, so read-only holders of the directory see read caps
 * only (the directory is transitively read-only).
 *   salt = H(rw cap)[:16]   key = H(salt, dir writekey)[:16]   ct = AES-128-CTR(key)(rw cap)
 *   rwcapdata = salt || ct || tahoeHmac(key, salt || ct)
 * The salt is a hash of the cap, not random: the same child packs to the same bytes.
 */
import { aesCtrSync } from '#crypto-backend';
import { sha256 } from '#sha256';
import type { WriteKey } from '../mutable/keys.ts';
import { concatBytes } from '../primitives/bytes.ts';
import { TAG_DIRNODE_CHILD_CAPKEY, TAG_DIRNODE_CHILD_SALT } from '../primitives/tags.ts';
import { taggedHash, taggedPairHash } from '../primitives/tagged-hash.ts';
import { asAesKey } from '../types.ts';

const SALT = 16;
const MAC = 32;
/** rwcapdata of a child without a write cap: salt and MAC around nothing. */
export const RWCAPDATA_MIN = SALT + MAC;

/**
 * Tahoe's dirnode MAC, which is not RFC 2104 HMAC: the key is XORed with 0x36/0x5c as it is,
 * without padding to the 64-byte block, and the hash is single SHA-256.
 */
export function tahoeHmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  const inner = key.map((b) => b ^ 0x36);
  const outer = key.map((b) => b ^ 0x5c);
  return sha256(concatBytes(outer, sha256(concatBytes(inner, data))));
}

function capKey(salt: Uint8Array, writeKey: WriteKey): Uint8Array {
  return taggedPairHash(TAG_DIRNODE_CHILD_CAPKEY, salt, writeKey, 16);
}

/** `salt || AES-CTR(rwCap) || MAC` under the directory's write key; an empty cap gives 48 bytes. */
export function encryptRwCap(writeKey: WriteKey, rwCap: Uint8Array): Uint8Array {
  const salt = taggedHash(TAG_DIRNODE_CHILD_SALT, rwCap, SALT);
  const key = capKey(salt, writeKey);
  const ct = aesCtrSync(asAesKey(key), 0, rwCap);
  return concatBytes(salt, ct, tahoeHmac(key, concatBytes(salt, ct)));
}

/**
 * The write cap bytes inside `rwcapdata` (at least 48 bytes: the caller checks). The MAC is not
 * checked, as Tahoe >= 1.3 does not: the directory's signature already covers these bytes,
 * and only write-key holders (who can sign) could compute a MAC anyway.
 */
export function decryptRwCap(writeKey: WriteKey, rwcapdata: Uint8Array): Uint8Array {
  const salt = rwcapdata.subarray(0, SALT);
  const ct = rwcapdata.subarray(SALT, rwcapdata.length - MAC);
  return aesCtrSync(asAesKey(capKey(salt, writeKey)), 0, ct);
}
