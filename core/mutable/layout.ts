/**
 * Mutable share layouts (reference/tahoe-formats.md §4.6, §4.7): where each part of a share
 * lives, encoding a whole share from its parts, and reading parts back out of whatever byte
 * ranges a reader fetched. Every offset read from a server is checked against the others
 * (they are all implied by the prefix and two key lengths) and against the bytes present.
 *
 *   SDMF: prefix(75) | u32 sig, chain, tree, data; u64 encprivkey, EOF | pubkey | signature |
 *         chain | block hash tree | block | encprivkey
 *   MDMF: prefix(59) | u64 encprivkey, chain, sig, pubkey, pubkey end, data, tree, EOF |
 *         encprivkey | chain | signature | pubkey | zeros to 2167 | (salt || block)* | block hash tree
 *
 * The share hash chain is `u16 node || hash` for the leaf's siblings up to the root, sorted
 * by node, without the leaf itself (immutable shares include it; mutable ones do not).
 */
import { InputError } from '../errors.ts';
import { leafIndex, neededFor, roundupPow2, treeSize } from '../hashtree/tree.ts';
import { encodeChain } from '../immutable/layout.ts';
import { RSA_SIGNATURE_BYTES } from '../primitives/rsa.ts';
import { MutableShareCorruptError, type MutableShareField } from './errors.ts';
import {
  blockLength,
  decodePrefix,
  type MutableFormat,
  type MutableGeometry,
  MDMF_PREFIX_BYTES,
  prefixBytesOf,
  SALT_BYTES,
  SDMF_PREFIX_BYTES,
  type SignedPrefix,
} from './prefix.ts';

export const SDMF_HEADER_BYTES = SDMF_PREFIX_BYTES + 32;
export const MDMF_HEADER_BYTES = MDMF_PREFIX_BYTES + 64;
/** One read of this many bytes from offset 0 gets the prefix and offsets of either format. */
export const HEADER_FETCH_BYTES = MDMF_HEADER_BYTES;
/**
 * Where MDMF share data starts, whatever the key sizes: Tahoe reserves room for the
 * encrypted private key (1220), signature (260), public key (292) and a 256-share chain (272).
 */
export const MDMF_SHARE_DATA_OFFSET = MDMF_HEADER_BYTES + 1220 + 260 + 292 + 34 * 8;
/** Bounds on the variable-length keys (2048-bit RSA: SPKI 294 bytes, PKCS#8 about 1217). */
export const MAX_PUBKEY_BYTES = 1024;
export const MAX_ENCPRIVKEY_BYTES = 4096;

/** Byte offsets of every part of one share. All shares of a version have the same ones. */
export interface MutableShareLayout {
  readonly format: MutableFormat;
  readonly headerSize: number;
  readonly pubkey: number;
  readonly pubkeyEnd: number;
  readonly signature: number;
  readonly shareHashChain: number;
  readonly blockHashTree: number;
  readonly shareData: number;
  readonly encPrivKey: number;
  readonly eof: number;
}

/** A share's parsed prefix and offsets: what a reader knows after the first fetch. */
export interface MutableShareHeader {
  readonly prefix: SignedPrefix;
  /** The signed bytes themselves (what the signature covers). */
  readonly prefixBytes: Uint8Array;
  readonly layout: MutableShareLayout;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** Bytes of a share that were fetched, from `offset`. */
export interface SharePiece {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** Hashes in every share's chain: log2 of N rounded up to a power of two (0 for N = 1). */
export function chainEntries(n: number): number {
  return Math.log2(roundupPow2(n));
}

/** Bytes of a share's block hash tree (the whole array, 2P-1 hashes). */
export function blockTreeBytes(g: MutableGeometry): number {
  return 32 * treeSize(g.numSegments);
}

/** The offsets a share of geometry `g` has with keys of the given lengths. */
export function shareLayout(
  g: MutableGeometry,
  pubkeyLength: number,
  encPrivKeyLength: number,
): MutableShareLayout {
  const chain = 34 * chainEntries(g.n);
  const tree = blockTreeBytes(g);
  if (g.format === 'sdmf') {
    const headerSize = SDMF_HEADER_BYTES;
    const pubkey = headerSize;
    const signature = pubkey + pubkeyLength;
    const shareHashChain = signature + RSA_SIGNATURE_BYTES;
    const blockHashTree = shareHashChain + chain;
    const shareData = blockHashTree + tree;
    const encPrivKey = shareData + g.shareDataSize;
    const eof = encPrivKey + encPrivKeyLength;
    return {
      format: 'sdmf',
      headerSize,
      pubkey,
      pubkeyEnd: signature,
      signature,
      shareHashChain,
      blockHashTree,
      shareData,
      encPrivKey,
      eof,
    };
  }
  const headerSize = MDMF_HEADER_BYTES;
  const encPrivKey = headerSize;
  const shareHashChain = encPrivKey + encPrivKeyLength;
  const signature = shareHashChain + chain;
  const pubkey = signature + RSA_SIGNATURE_BYTES;
  const pubkeyEnd = pubkey + pubkeyLength;
  if (pubkeyEnd > MDMF_SHARE_DATA_OFFSET) {
    throw new InputError(
      `keys of ${pubkeyLength} + ${encPrivKeyLength} bytes do not fit before MDMF share data at ${MDMF_SHARE_DATA_OFFSET}`,
    );
  }
  const shareData = MDMF_SHARE_DATA_OFFSET;
  const blockHashTree = shareData + g.shareDataSize;
  return {
    format: 'mdmf',
    headerSize,
    pubkey,
    pubkeyEnd,
    signature,
    shareHashChain,
    blockHashTree,
    shareData,
    encPrivKey,
    eof: blockHashTree + tree,
  };
}

/** Offset of segment `s` in every share: MDMF's salt comes first, SDMF has one block. */
export function segmentOffset(l: MutableShareLayout, g: MutableGeometry, s: number): number {
  blockLength(g, s); // range check
  return l.shareData + s * (g.blockSize + (g.format === 'mdmf' ? SALT_BYTES : 0));
}

/** The offsets table that follows the prefix. */
export function encodeOffsets(l: MutableShareLayout): Uint8Array {
  if (l.format === 'sdmf') {
    const out = new Uint8Array(32);
    const v = new DataView(out.buffer);
    v.setUint32(0, l.signature);
    v.setUint32(4, l.shareHashChain);
    v.setUint32(8, l.blockHashTree);
    v.setUint32(12, l.shareData);
    v.setBigUint64(16, BigInt(l.encPrivKey));
    v.setBigUint64(24, BigInt(l.eof));
    return out;
  }
  const out = new Uint8Array(64);
  const v = new DataView(out.buffer);
  [
    l.encPrivKey,
    l.shareHashChain,
    l.signature,
    l.pubkey,
    l.pubkeyEnd,
    l.shareData,
    l.blockHashTree,
    l.eof,
  ].forEach((x, i) => {
    v.setBigUint64(8 * i, BigInt(x));
  });
  return out;
}

/**
 * Parse the prefix and offsets from a share's first bytes (HEADER_FETCH_BYTES suffice; more
 * is fine). Every offset must be exactly where the prefix and the two key lengths put it.
 */
export function parseHeader(shnum: number, bytes: Uint8Array): MutableShareHeader {
  const prefix = decodePrefix(shnum, bytes);
  const prefixSize = prefixBytesOf(prefix.format);
  const sdmf = prefix.format === 'sdmf';
  const headerSize = sdmf ? SDMF_HEADER_BYTES : MDMF_HEADER_BYTES;
  const corrupt = (why: string) => new MutableShareCorruptError(shnum, 'offsets', why);
  if (bytes.length < headerSize) throw corrupt(`share is truncated (${bytes.length} of ${headerSize} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + prefixSize, headerSize - prefixSize);
  const u64 = (at: number) => {
    const v = view.getBigUint64(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`offset ${v} is past any share`);
    return Number(v);
  };
  const got: Partial<Record<keyof MutableShareLayout, number>> = sdmf
    ? {
        signature: view.getUint32(0),
        shareHashChain: view.getUint32(4),
        blockHashTree: view.getUint32(8),
        shareData: view.getUint32(12),
        encPrivKey: u64(16),
        eof: u64(24),
      }
    : {
        encPrivKey: u64(0),
        shareHashChain: u64(8),
        signature: u64(16),
        pubkey: u64(24),
        pubkeyEnd: u64(32),
        shareData: u64(40),
        blockHashTree: u64(48),
        eof: u64(56),
      };
  // The two key lengths are the only free parameters; everything else must follow.
  const pubkeyLength = sdmf ? got.signature! - headerSize : got.pubkeyEnd! - got.pubkey!;
  const encPrivKeyLength = sdmf ? got.eof! - got.encPrivKey! : got.shareHashChain! - got.encPrivKey!;
  if (pubkeyLength < 1 || pubkeyLength > MAX_PUBKEY_BYTES) {
    throw corrupt(`they leave ${pubkeyLength} bytes for the public key`);
  }
  if (encPrivKeyLength < 1 || encPrivKeyLength > MAX_ENCPRIVKEY_BYTES) {
    throw corrupt(`they leave ${encPrivKeyLength} bytes for the encrypted private key`);
  }
  let layout: MutableShareLayout;
  try {
    layout = shareLayout(prefix, pubkeyLength, encPrivKeyLength);
  } catch (err) {
    throw corrupt((err as Error).message);
  }
  for (const [name, value] of Object.entries(got)) {
    const want = layout[name as keyof MutableShareLayout];
    if (value !== want) throw corrupt(`${name} offset is ${value}, expected ${want}`);
  }
  return { prefix, prefixBytes: bytes.slice(0, prefixSize), layout };
}

/** A whole share must hold every section up to EOF. */
export function checkShareLength(shnum: number, header: MutableShareHeader, length: number): void {
  // Bytes past EOF are allowed: a rewrite never shrinks a server's container (§4.9).
  if (length < header.layout.eof) {
    throw new MutableShareCorruptError(
      shnum,
      fieldAt(header.layout, length),
      `share is truncated (${length} of ${header.layout.eof} bytes)`,
    );
  }
}

/** The field a byte offset falls in (for naming what a truncation cut). */
function fieldAt(l: MutableShareLayout, offset: number): MutableShareField {
  const parts: [number, MutableShareField][] = [
    [l.pubkey, 'pubkey'],
    // MDMF's reserved zeros after the public key: a cut there also cuts every block.
    ...(l.format === 'mdmf' ? ([[l.pubkeyEnd, 'block']] as [number, MutableShareField][]) : []),
    [l.signature, 'signature'],
    [l.shareHashChain, 'share hash chain'],
    [l.blockHashTree, 'block hash tree'],
    [l.shareData, 'block'],
    [l.encPrivKey, 'encprivkey'],
  ];
  let field: MutableShareField = 'offsets';
  for (const [start, name] of parts.sort((a, b) => a[0] - b[0])) if (offset >= start) field = name;
  return field;
}

// ---- what a reader fetches ----------------------------------------------------------------

/** A reader's first fetch: prefix and offsets, whichever the format (parseHeader reads it). */
export const HEADER_RANGE: ByteRange = { offset: 0, length: HEADER_FETCH_BYTES };

/** The range of one part of a share. */
export function fieldRange(
  l: MutableShareLayout,
  field: 'pubkey' | 'signature' | 'share hash chain' | 'block hash tree' | 'encprivkey',
): ByteRange {
  const [start, end] = {
    pubkey: [l.pubkey, l.pubkeyEnd],
    signature: [l.signature, l.signature + RSA_SIGNATURE_BYTES],
    'share hash chain': [l.shareHashChain, l.format === 'sdmf' ? l.blockHashTree : l.signature],
    'block hash tree': [l.blockHashTree, l.format === 'sdmf' ? l.shareData : l.eof],
    encprivkey: [l.encPrivKey, l.format === 'sdmf' ? l.eof : l.shareHashChain],
  }[field];
  return { offset: start, length: end - start };
}

/** What checking a signature needs: the public key and the signature (one range). */
export function signatureRanges(l: MutableShareLayout): ByteRange[] {
  return mergeRanges([fieldRange(l, 'pubkey'), fieldRange(l, 'signature')]);
}

/**
 * Everything verification needs besides the blocks: public key, signature, share hash chain,
 * block hash tree. One range for SDMF, two for MDMF (the tree sits after the data).
 */
export function verificationRanges(l: MutableShareLayout): ByteRange[] {
  return mergeRanges([
    fieldRange(l, 'pubkey'),
    fieldRange(l, 'signature'),
    fieldRange(l, 'share hash chain'),
    fieldRange(l, 'block hash tree'),
  ]);
}

/** Segment `s` in a share: MDMF's `salt || block`, SDMF's block (its salt is in the prefix). */
export function segmentRange(header: MutableShareHeader, s: number): ByteRange {
  const { prefix, layout } = header;
  const salt = prefix.format === 'mdmf' ? SALT_BYTES : 0;
  return { offset: segmentOffset(layout, prefix, s), length: salt + blockLength(prefix, s) };
}

export function encPrivKeyRange(l: MutableShareLayout): ByteRange {
  return fieldRange(l, 'encprivkey');
}

/** Ranges sorted and joined where they touch or overlap. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const out: { offset: number; length: number }[] = [];
  for (const r of [...ranges].filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset)) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else {
      out.push({ offset: r.offset, length: r.length });
    }
  }
  return out;
}

/**
 * `range` out of the fetched pieces (which may overlap or split it). A range the pieces do not
 * cover means the server returned less than asked: the share is truncated there.
 */
export function bytesAt(
  shnum: number,
  pieces: readonly SharePiece[],
  range: ByteRange,
  field: MutableShareField,
): Uint8Array {
  const end = range.offset + range.length;
  for (const p of pieces) {
    if (p.offset <= range.offset && p.offset + p.bytes.length >= end) {
      return p.bytes.subarray(range.offset - p.offset, end - p.offset);
    }
  }
  const out = new Uint8Array(range.length);
  let at = range.offset;
  for (const p of [...pieces].sort((a, b) => a.offset - b.offset)) {
    if (at >= end) break;
    if (p.offset > at || p.offset + p.bytes.length <= at) continue;
    const take = Math.min(end, p.offset + p.bytes.length) - at;
    out.set(p.bytes.subarray(at - p.offset, at - p.offset + take), at - range.offset);
    at += take;
  }
  if (at < end) throw new MutableShareCorruptError(shnum, field, `share is truncated (no bytes at ${at})`);
  return out;
}

// ---- reading parts ------------------------------------------------------------------------

/** A share's verification material, still unverified. */
export interface VerificationMaterial {
  readonly pubkey: Uint8Array;
  readonly signature: Uint8Array;
  /** Share hash chain: node index -> hash. */
  readonly chain: Map<number, Uint8Array>;
  /** The whole block hash tree, packed (node i at bytes [32i, 32i+32)). */
  readonly blockHashTree: Uint8Array;
}

export function readVerificationMaterial(
  shnum: number,
  header: MutableShareHeader,
  pieces: readonly SharePiece[],
): VerificationMaterial {
  const l = header.layout;
  const at = (field: Parameters<typeof fieldRange>[1] & MutableShareField) =>
    bytesAt(shnum, pieces, fieldRange(l, field), field);
  return {
    pubkey: at('pubkey').slice(),
    signature: at('signature').slice(),
    chain: parseChain(shnum, at('share hash chain')),
    blockHashTree: at('block hash tree').slice(),
  };
}

/** Chain bytes as node -> hash. Repeated nodes are refused (one of them could hide a fault). */
export function parseChain(shnum: number, bytes: Uint8Array): Map<number, Uint8Array> {
  if (bytes.length % 34 !== 0) {
    throw new MutableShareCorruptError(
      shnum,
      'share hash chain',
      `${bytes.length} bytes is not whole entries`,
    );
  }
  const out = new Map<number, Uint8Array>();
  for (let i = 0; i < bytes.length; i += 34) {
    const node = (bytes[i] << 8) | bytes[i + 1];
    if (out.has(node))
      throw new MutableShareCorruptError(shnum, 'share hash chain', `node ${node} appears twice`);
    out.set(node, bytes.slice(i + 2, i + 34));
  }
  return out;
}

/** Segment `s`'s salt and block (SDMF: the prefix's IV and the one block). */
export function readSegment(
  shnum: number,
  header: MutableShareHeader,
  s: number,
  pieces: readonly SharePiece[],
): { salt: Uint8Array; block: Uint8Array } {
  const bytes = bytesAt(shnum, pieces, segmentRange(header, s), 'block');
  if (header.prefix.format === 'sdmf') return { salt: header.prefix.iv!, block: bytes };
  return { salt: bytes.subarray(0, SALT_BYTES), block: bytes.subarray(SALT_BYTES) };
}

export function readEncPrivKey(
  shnum: number,
  header: MutableShareHeader,
  pieces: readonly SharePiece[],
): Uint8Array {
  return bytesAt(shnum, pieces, encPrivKeyRange(header.layout), 'encprivkey').slice();
}

// ---- writing ------------------------------------------------------------------------------

/** Share `shnum`'s chain: its leaf's siblings in the share hash tree, sorted, leaf excluded. */
export function encodeMutableChain(n: number, shnum: number, shareTree: readonly Uint8Array[]): Uint8Array {
  return encodeChain(
    neededFor(leafIndex(n, shnum)).sort((a, b) => a - b),
    shareTree,
  );
}

/** Everything in a share but its data area. */
export interface ShareMeta {
  /** The signed prefix bytes (SDMF 75, MDMF 59). */
  readonly prefix: Uint8Array;
  readonly pubkey: Uint8Array;
  readonly signature: Uint8Array;
  /** Encoded chain (encodeMutableChain). */
  readonly chain: Uint8Array;
  /** Packed block hash tree. */
  readonly blockHashTree: Uint8Array;
  readonly encPrivKey: Uint8Array;
}

export interface ShareParts extends ShareMeta {
  /** The share-data area in order: SDMF [block]; MDMF [salt0, block0, salt1, block1, …]. */
  readonly data: readonly Uint8Array[];
}

/** The header of shares with this prefix and these key lengths (what a writer lays out). */
export function headerFor(
  prefixBytes: Uint8Array,
  pubkeyLength: number,
  encPrivKeyLength: number,
): MutableShareHeader {
  const prefix = decodePrefix(0, prefixBytes);
  return {
    prefix,
    prefixBytes: prefixBytes.slice(),
    layout: shareLayout(prefix, pubkeyLength, encPrivKeyLength),
  };
}

/**
 * Write everything but the data area into `out` (a share of header.layout.eof bytes). The
 * MDMF gap before the share data is left as it is: zeros in a fresh buffer.
 */
export function writeShareMeta(out: Uint8Array, header: MutableShareHeader, meta: ShareMeta): void {
  const { prefix, layout: l } = header;
  if (meta.signature.length !== RSA_SIGNATURE_BYTES) {
    throw new InputError(`signature must be ${RSA_SIGNATURE_BYTES} bytes, not ${meta.signature.length}`);
  }
  if (meta.pubkey.length !== l.pubkeyEnd - l.pubkey)
    throw new InputError('public key length differs from the layout');
  if (meta.encPrivKey.length !== fieldRange(l, 'encprivkey').length) {
    throw new InputError('encrypted private key length differs from the layout');
  }
  if (meta.chain.length !== 34 * chainEntries(prefix.n))
    throw new InputError('share hash chain has the wrong length');
  if (meta.blockHashTree.length !== blockTreeBytes(prefix))
    throw new InputError('block hash tree has the wrong length');
  if (out.length < l.eof) throw new InputError(`a share needs ${l.eof} bytes, not ${out.length}`);
  out.set(meta.prefix, 0);
  out.set(encodeOffsets(l), meta.prefix.length);
  out.set(meta.pubkey, l.pubkey);
  out.set(meta.signature, l.signature);
  out.set(meta.chain, l.shareHashChain);
  out.set(meta.blockHashTree, l.blockHashTree);
  out.set(meta.encPrivKey, l.encPrivKey);
}

/** One whole share, byte for byte as Tahoe lays it out. */
export function encodeShare(parts: ShareParts): { share: Uint8Array; header: MutableShareHeader } {
  const header = headerFor(parts.prefix, parts.pubkey.length, parts.encPrivKey.length);
  const dataLength = parts.data.reduce((a, d) => a + d.length, 0);
  if (dataLength !== header.prefix.shareDataSize) {
    throw new InputError(
      `share data is ${dataLength} bytes, the prefix implies ${header.prefix.shareDataSize}`,
    );
  }
  const out = new Uint8Array(header.layout.eof);
  writeShareMeta(out, header, parts);
  let at = header.layout.shareData;
  for (const d of parts.data) {
    out.set(d, at);
    at += d.length;
  }
  return { share: out, header };
}
