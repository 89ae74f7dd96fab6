/**
 * Build every share of a new version of a mutable file (reference/tahoe-formats.md §4.8):
 * per segment a fresh salt, AES-CTR under its data key, zfec, block-hash leaves; then each
 * share's block hash tree, the share hash tree over their roots (its root R goes into the
 * prefix), the signature over the prefix, and the shares laid out whole.
 *
 * Not streaming: the N shares are built in memory (N/k times the file), which suits a new
 * version written with one write per share (§4.9). Randomness (the salts) and the signature
 * come from the caller.
 */
import type { Codec } from '../codec/index.ts';
import { InputError } from '../errors.ts';
import { buildHashTree, buildPackedHashTree } from '../hashtree/tree.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import type { Pkcs8Der, SpkiDer } from '../primitives/rsa.ts';
import { cryptPrivateKey, readKeyOf, writeKeyOf } from './keys.ts';
import {
  encodeMutableChain,
  headerFor,
  type MutableShareHeader,
  segmentOffset,
  shareLayout,
  writeShareMeta,
} from './layout.ts';
import {
  checkstringOf,
  encodePrefix,
  type MutableFormat,
  planMutable,
  SALT_BYTES,
  type SignedPrefix,
  segmentSpan,
} from './prefix.ts';
import { encodeMutableSegment } from './segment.ts';

export interface MutableSigner {
  /** RSA-PSS signature of `message` (rsaSigner(privateKey).sign). */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface MutableTools {
  readonly codec: Codec;
  readonly backend: CryptoBackend;
}

export interface MutableEncodeInput {
  readonly data: Uint8Array;
  readonly format: MutableFormat;
  readonly k: number;
  readonly n: number;
  /** 1 for a new file; otherwise one more than the highest seen on the grid. */
  readonly seqnum: number;
  readonly privateKey: Pkcs8Der;
  readonly publicKey: SpkiDer;
  readonly signer: MutableSigner;
  /**
   * Random bytes (crypto.getRandomValues in production). Called random(16) once per
   * segment in order; SDMF once, even for an empty file.
   */
  readonly random: (length: number) => Uint8Array;
}

export interface EncodedMutableVersion {
  readonly prefix: SignedPrefix;
  /** Prefix + offsets of every share (all shares of a version have the same). */
  readonly header: MutableShareHeader;
  readonly prefixBytes: Uint8Array;
  readonly checkstring: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly signature: Uint8Array;
  /** The salts used: SDMF [IV], MDMF one per segment. */
  readonly salts: Uint8Array[];
  /** Share bytes by share number; a new version writes each at offset 0 in one write. */
  readonly shares: Uint8Array[];
}

export function freshSalt(random: (length: number) => Uint8Array): Uint8Array {
  const salt = random(SALT_BYTES);
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) {
    throw new InputError('the random source must return the 16 bytes asked for');
  }
  return salt.slice();
}

export async function encodeMutable(
  input: MutableEncodeInput,
  tools: MutableTools,
): Promise<EncodedMutableVersion> {
  const { format, k, n, data } = input;
  const g = planMutable(format, data.length, k, n);
  const writeKey = writeKeyOf(input.privateKey);
  const readKey = readKeyOf(writeKey);
  const encPrivKey = cryptPrivateKey(writeKey, input.privateKey);

  // The layout is known before any hash (the signature is always 256 bytes): each segment
  // goes straight into the shares, so only one copy of the encoded file is held.
  const layout = shareLayout(g, input.publicKey.length, encPrivKey.length);
  const shares = Array.from({ length: n }, () => new Uint8Array(layout.eof));
  const salts: Uint8Array[] = [];
  const leaves = Array.from({ length: n }, () => new Uint8Array(32 * g.numSegments));
  for (let s = 0; s < g.numSegments; s++) {
    const salt = freshSalt(input.random);
    salts.push(salt);
    const span = segmentSpan(g, s);
    const seg = await encodeMutableSegment(
      { format, k, n, salt, readKey, plaintext: data.subarray(span.start, span.start + span.length) },
      tools.backend,
      tools.codec,
    );
    const at = segmentOffset(layout, g, s);
    for (let sh = 0; sh < n; sh++) {
      shares[sh].set(seg.stored[sh], at);
      leaves[sh].set(seg.leaves[sh], 32 * s);
    }
  }
  if (format === 'sdmf' && g.numSegments === 0) salts.push(freshSalt(input.random)); // the IV signs even when empty
  const blockTrees = leaves.map((l) => buildPackedHashTree(l));
  const shareTree = buildHashTree(blockTrees.map((t) => t.subarray(0, 32)));
  const rootHash = shareTree[0].slice();

  const prefixBytes = encodePrefix({
    format,
    seqnum: input.seqnum,
    rootHash,
    iv: format === 'sdmf' ? salts[0] : undefined,
    k,
    n,
    segmentSize: g.segmentSize,
    dataLength: g.dataLength,
  });
  const signature = await input.signer.sign(prefixBytes);
  const header = headerFor(prefixBytes, input.publicKey.length, encPrivKey.length);
  shares.forEach((out, sh) => {
    writeShareMeta(out, header, {
      prefix: prefixBytes,
      pubkey: input.publicKey,
      signature,
      chain: encodeMutableChain(n, sh, shareTree),
      blockHashTree: blockTrees[sh],
      encPrivKey,
    });
  });
  return {
    prefix: header.prefix,
    header,
    prefixBytes,
    checkstring: checkstringOf(prefixBytes),
    rootHash,
    signature,
    salts,
    shares,
  };
}
