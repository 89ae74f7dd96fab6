/**
 * Every hash tag the immutable-file formats use (reference/tahoe-formats.md §1.4), one
 * constant each, so a typo cannot silently change a cap.
 */

/** 16-byte AES key -> 16-byte storage index. */
export const TAG_KEY_TO_STORAGE_INDEX = 'allmydata_immutable_key_to_storage_index_v1';
/** Start of the convergent-key tag; secret and parameters are appended (§2.3). */
export const TAG_CONVERGENT_KEY_PREFIX = 'allmydata_immutable_content_to_key_with_added_secret_v1+';
/** One FEC block: leaf of a block hash tree. */
export const TAG_BLOCK = 'allmydata_encoded_subshare_v1';
/** The serialized URI extension block. */
export const TAG_UEB = 'allmydata_uri_extension_v1';
/** The whole ciphertext. */
export const TAG_CRYPTTEXT = 'allmydata_crypttext_v1';
/** One ciphertext segment (unpadded): leaf of the crypttext hash tree. */
export const TAG_CRYPTTEXT_SEGMENT = 'allmydata_crypttext_segment_v1';
/** Padding leaves of every Merkle tree, over the decimal leaf position. */
export const TAG_MERKLE_EMPTY_LEAF = 'Merkle tree empty leaf';
/** Interior nodes of every Merkle tree (pair hash). */
export const TAG_MERKLE_INTERNAL = 'Merkle tree internal node';

// ---- mutable files (§4.2) ----------------------------------------------------------

/** RSA private key (PKCS#8 DER) -> 16-byte write key. */
export const TAG_PRIVKEY_TO_WRITEKEY = 'allmydata_mutable_privkey_to_writekey_v1';
/** Write key -> 16-byte read key. */
export const TAG_WRITEKEY_TO_READKEY = 'allmydata_mutable_writekey_to_readkey_v1';
/** Read key -> 16-byte storage index. */
export const TAG_READKEY_TO_STORAGE_INDEX = 'allmydata_mutable_readkey_to_storage_index_v1';
/** RSA public key (SPKI DER) -> 32-byte fingerprint ("verification key hash"). */
export const TAG_PUBKEY_TO_FINGERPRINT = 'allmydata_mutable_pubkey_to_fingerprint_v1';
/** Pair hash of (salt, read key) -> 16-byte data key of one segment. */
export const TAG_READKEY_TO_DATAKEY = 'allmydata_mutable_readkey_to_datakey_v1';
/** Write key -> 32-byte write-enabler master. */
export const TAG_WRITEKEY_TO_WE_MASTER = 'allmydata_mutable_writekey_to_write_enabler_master_v1';
/** Pair hash of (write-enabler master, server's 20-byte id) -> that server's write enabler. */
export const TAG_WE_MASTER_AND_NODEID_TO_WE =
  'allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1';

// ---- directories (§5.1) ---------------------------------------------------------------

/** A child's write cap -> 16-byte salt of its encrypted copy (deterministic, not random). */
export const TAG_DIRNODE_CHILD_SALT = 'allmydata_dirnode_child_rwcap_to_salt_v1';
/** Pair hash of (salt, directory write key) -> 16-byte AES key of one child's write cap. */
export const TAG_DIRNODE_CHILD_CAPKEY = 'allmydata_mutable_writekey_and_salt_to_dirnode_child_capkey_v1';
