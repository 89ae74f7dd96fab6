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
