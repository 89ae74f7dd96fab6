/**
 * Checking a mutable share against its cap (reference/tahoe-formats.md §4.10), in the steps
 * a reader takes as the bytes arrive; the downloader, the verifier and the repairer share them.
 *
 *   1. the public key hashes to the cap's fingerprint                       checkPubkey
 *   2. the signature over the signed prefix verifies under that key         checkSignature
 *      (from here the prefix, R, k, N, sizes and offsets are the writer's)
 *   3. the block hash tree is whole and its root climbs the share hash      checkShareHashes
 *      chain to R
 *   4. each segment's stored bytes hash to their leaf of that tree          checkSegment
 *
 * Every failure is a MutableShareCorruptError naming the share and the field. The encrypted
 * private key is checked by writers only (checkEncPrivKey).
 */
import { BadHashError, NotEnoughHashesError } from '../hashtree/errors.ts';
import { leafIndex } from '../hashtree/tree.ts';
import { checkFullTree, IncompleteHashTree } from '../hashtree/verify.ts';
import { equalBytes } from '../primitives/bytes.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { type Pkcs8Der, rsaVerify, type SpkiDer } from '../primitives/rsa.ts';
import { MutableShareCorruptError } from './errors.ts';
import { cryptPrivateKey, type Fingerprint, fingerprintOf, type WriteKey, writeKeyOf } from './keys.ts';
import {
  checkShareLength,
  type MutableShareHeader,
  parseHeader,
  readSegment,
  readVerificationMaterial,
  type SharePiece,
} from './layout.ts';
import { blockLength } from './prefix.ts';
import { segmentLeaf } from './segment.ts';

/** The share's public key must be the one the cap names. */
export function checkPubkey(shnum: number, pubkey: Uint8Array, fingerprint: Fingerprint): void {
  if (!equalBytes(fingerprintOf(pubkey as SpkiDer), fingerprint)) {
    throw new MutableShareCorruptError(shnum, 'pubkey', 'public key does not match the cap');
  }
}

/** The signature must cover this share's prefix under the (already checked) public key. */
export async function checkSignature(
  shnum: number,
  header: MutableShareHeader,
  pubkey: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  if (!(await rsaVerify(pubkey as SpkiDer, header.prefixBytes, signature))) {
    throw new MutableShareCorruptError(shnum, 'signature', 'signature does not verify over the prefix');
  }
}

/**
 * The block hash tree must be internally whole and its root must climb the share hash chain to
 * the prefix's root hash. Returns the tree's verified leaves, one per segment.
 */
export function checkShareHashes(
  shnum: number,
  header: MutableShareHeader,
  chain: ReadonlyMap<number, Uint8Array>,
  blockHashTree: Uint8Array,
): Uint8Array[] {
  const { prefix } = header;
  if (!Number.isInteger(shnum) || shnum < 0 || shnum >= prefix.n) {
    throw new MutableShareCorruptError(shnum, 'prefix', `share number is not below N (${prefix.n})`);
  }
  const nodes: Uint8Array[] = [];
  for (let i = 0; i + 32 <= blockHashTree.length; i += 32) nodes.push(blockHashTree.subarray(i, i + 32));
  let leaves: Uint8Array[];
  try {
    leaves = checkFullTree(nodes, prefix.numSegments, nodes[0] ?? new Uint8Array(32));
  } catch (err) {
    throw new MutableShareCorruptError(shnum, 'block hash tree', (err as Error).message, { cause: err });
  }
  const shareTree = new IncompleteHashTree(prefix.n, prefix.rootHash);
  const offered = new Map(chain);
  const leaf = leafIndex(prefix.n, shnum);
  if (offered.has(leaf)) {
    throw new MutableShareCorruptError(
      shnum,
      'share hash chain',
      `chain holds the share's own leaf (node ${leaf})`,
    );
  }
  offered.set(leaf, nodes[0]);
  try {
    shareTree.setHashes(offered);
  } catch (err) {
    if (err instanceof BadHashError || err instanceof NotEnoughHashesError) {
      throw new MutableShareCorruptError(
        shnum,
        'share hash chain',
        `block hash tree root does not reach the root hash: ${err.message}`,
        { cause: err },
      );
    }
    throw err;
  }
  return leaves.map((l) => l.slice());
}

/** Segment `s`'s stored bytes (MDMF salt || block; SDMF block) must hash to its verified leaf. */
export async function checkSegment(
  shnum: number,
  header: MutableShareHeader,
  s: number,
  leaves: readonly Uint8Array[],
  segment: { readonly salt: Uint8Array; readonly block: Uint8Array },
  backend: CryptoBackend,
): Promise<void> {
  const { prefix } = header;
  const want = blockLength(prefix, s);
  if (segment.block.length !== want) {
    throw new MutableShareCorruptError(
      shnum,
      'block',
      `block ${s} is ${segment.block.length} bytes, not ${want}`,
    );
  }
  const leaf = await segmentLeaf(prefix.format, segment.salt, segment.block, backend);
  if (!equalBytes(leaf, leaves[s])) {
    const what = prefix.format === 'mdmf' ? 'salt and block' : 'block';
    throw new MutableShareCorruptError(shnum, 'block', `${what} of segment ${s} fail their hash`);
  }
}

/** A share that passed every reader check, with its parts. */
export interface VerifiedShare {
  readonly shnum: number;
  readonly header: MutableShareHeader;
  readonly pubkey: Uint8Array;
  readonly signature: Uint8Array;
  /** Verified block-hash-tree leaves, one per segment, and the whole tree. */
  readonly leaves: Uint8Array[];
  readonly blockHashTree: Uint8Array;
  /** Per segment: its salt and this share's block (views into the share bytes). */
  readonly segments: { readonly salt: Uint8Array; readonly block: Uint8Array }[];
}

/**
 * Every reader check over a whole share (or pieces covering all of it): the verifier's and
 * repairer's view. Reads nothing it has not checked before the next step relies on it.
 */
export async function verifyShare(
  shnum: number,
  share: Uint8Array | readonly SharePiece[],
  fingerprint: Fingerprint,
  backend: CryptoBackend,
): Promise<VerifiedShare> {
  const pieces: readonly SharePiece[] = share instanceof Uint8Array ? [{ offset: 0, bytes: share }] : share;
  const first = pieces.find((p) => p.offset === 0);
  if (!first) throw new MutableShareCorruptError(shnum, 'prefix', 'share has no bytes at offset 0');
  const header = parseHeader(shnum, first.bytes);
  if (share instanceof Uint8Array) checkShareLength(shnum, header, share.length);
  const material = readVerificationMaterial(shnum, header, pieces);
  checkPubkey(shnum, material.pubkey, fingerprint);
  await checkSignature(shnum, header, material.pubkey, material.signature);
  const leaves = checkShareHashes(shnum, header, material.chain, material.blockHashTree);
  const segments: { salt: Uint8Array; block: Uint8Array }[] = [];
  for (let s = 0; s < header.prefix.numSegments; s++) {
    const seg = readSegment(shnum, header, s, pieces);
    await checkSegment(shnum, header, s, leaves, seg, backend);
    segments.push(seg);
  }
  return {
    shnum,
    header,
    pubkey: material.pubkey,
    signature: material.signature,
    leaves,
    blockHashTree: material.blockHashTree,
    segments,
  };
}

/**
 * A writer's check of the encrypted private key a share carries: it must decrypt under the
 * write key to a key that hashes back to that write key. Returns the private key.
 */
export function checkEncPrivKey(shnum: number, encPrivKey: Uint8Array, writeKey: WriteKey): Pkcs8Der {
  const privateKey = cryptPrivateKey(writeKey, encPrivKey) as Pkcs8Der;
  if (!equalBytes(writeKeyOf(privateKey), writeKey)) {
    throw new MutableShareCorruptError(
      shnum,
      'encprivkey',
      'encrypted private key does not match the write key',
    );
  }
  return privateKey;
}
