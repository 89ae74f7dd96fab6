/**
 * The signed prefix of a mutable share and the sizes that follow from it
 * (reference/tahoe-formats.md §4.4, §4.5):
 *
 *   SDMF (75 B): u8 0 || u64 seqnum || root hash(32) || IV(16) || u8 k || u8 N || u64 segsize || u64 datalen
 *   MDMF (59 B): u8 1 || u64 seqnum || root hash(32)           || u8 k || u8 N || u64 segsize || u64 datalen
 *
 * The RSA signature covers exactly these bytes. The checkstring (what a writer's test vector
 * compares) is their start: SDMF 57 bytes (through the IV), MDMF 41 (through the root hash).
 * Pure arithmetic and byte packing; everything read from a server is validated here.
 */
import { InputError } from '../errors.ts';
import { divCeil, nextMultiple } from '../immutable/params.ts';
import { MutableShareCorruptError, UnsupportedMutableShareError } from './errors.ts';

export type MutableFormat = 'sdmf' | 'mdmf';

export const SDMF_VERSION = 0;
export const MDMF_VERSION = 1;
export const SDMF_PREFIX_BYTES = 75;
export const MDMF_PREFIX_BYTES = 59;
export const SDMF_CHECKSTRING_BYTES = 57;
export const MDMF_CHECKSTRING_BYTES = 41;
/** MDMF's segment size before rounding up to a multiple of k: Tahoe's DEFAULT_MUTABLE_MAX_SEGMENT_SIZE. */
export const MDMF_SEGMENT_SIZE = 131072;
export const SALT_BYTES = 16;
/** Mutable k and N are single bytes (CHK allows N = 256; mutable files stop at 255). */
export const MAX_MUTABLE_SHARES = 255;
/**
 * Block hash trees are stored and read whole; past this many segments (128 GiB at 128 KiB
 * segments) a tree passes 64 MiB, so larger files are refused rather than half-handled.
 */
export const MAX_MUTABLE_SEGMENTS = 2 ** 20;

export const prefixBytesOf = (format: MutableFormat): number =>
  format === 'sdmf' ? SDMF_PREFIX_BYTES : MDMF_PREFIX_BYTES;
export const checkstringBytesOf = (format: MutableFormat): number =>
  format === 'sdmf' ? SDMF_CHECKSTRING_BYTES : MDMF_CHECKSTRING_BYTES;

/** Sizes of one version of a mutable file: everything that follows from k, N, segsize, datalen. */
export interface MutableGeometry {
  readonly format: MutableFormat;
  readonly k: number;
  readonly n: number;
  readonly segmentSize: number;
  readonly dataLength: number;
  /** 0 for an empty file (both formats); otherwise 1 for SDMF. */
  readonly numSegments: number;
  /** Block length of every segment but the last: segsize / k. */
  readonly blockSize: number;
  /** Plaintext bytes in the last segment (0 when there are no segments). */
  readonly tailSize: number;
  /** div_ceil(tailSize, k): the last segment's block length. */
  readonly tailBlockSize: number;
  /** Bytes of a share's data area: SDMF its one block; MDMF `salt || block` per segment. */
  readonly shareDataSize: number;
}

/** A signed prefix, parsed. Carries the geometry it implies. */
export interface SignedPrefix extends MutableGeometry {
  readonly seqnum: number;
  /** Root of the share hash tree ("R"), 32 bytes. */
  readonly rootHash: Uint8Array;
  /** SDMF only: the file's single 16-byte salt. Undefined for MDMF. */
  readonly iv: Uint8Array | undefined;
}

const isCount = (v: number) => Number.isSafeInteger(v) && v >= 0;

function checkShares(k: number, n: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || k > n || n > MAX_MUTABLE_SHARES) {
    throw new InputError(`k and N must satisfy 1 <= k <= N <= ${MAX_MUTABLE_SHARES}, not ${k} and ${n}`);
  }
}

/**
 * The segment size Tahoe's publisher picks (§4.4): SDMF is one segment of the whole file,
 * MDMF always next_multiple(128 KiB, k), even for tiny or empty files.
 */
export function mutableSegmentSize(format: MutableFormat, dataLength: number, k: number): number {
  return nextMultiple(format === 'sdmf' ? dataLength : MDMF_SEGMENT_SIZE, k);
}

/** The geometry of a new version of `dataLength` bytes, with the segment size Tahoe picks. */
export function planMutable(
  format: MutableFormat,
  dataLength: number,
  k: number,
  n: number,
): MutableGeometry {
  checkShares(k, n);
  if (!isCount(dataLength))
    throw new InputError(`file size must be a non-negative integer, not ${dataLength}`);
  return mutableGeometry(format, k, n, mutableSegmentSize(format, dataLength, k), dataLength);
}

/**
 * Sizes from the four numbers of a signed prefix. Throws InputError (code BAD_GEOMETRY or
 * TOO_MANY_SEGMENTS) for combinations no writer produces; decodePrefix turns that into a
 * corrupt-share error.
 */
export function mutableGeometry(
  format: MutableFormat,
  k: number,
  n: number,
  segmentSize: number,
  dataLength: number,
): MutableGeometry {
  checkShares(k, n);
  const bad = (why: string) => new InputError(why, 'BAD_GEOMETRY');
  if (!isCount(segmentSize) || !isCount(dataLength)) {
    throw bad(`segment size ${segmentSize} and data length ${dataLength} must be non-negative integers`);
  }
  if (segmentSize % k !== 0) throw bad(`segment size ${segmentSize} is not a multiple of k (${k})`);
  let numSegments: number;
  if (format === 'sdmf') {
    // One segment holding the whole file, padded to a multiple of k: the only shape Tahoe
    // writes, and the one the share's single block is sized by.
    if (segmentSize !== nextMultiple(dataLength, k)) {
      throw bad(`an SDMF segment size must be the data length rounded up to k, not ${segmentSize}`);
    }
    numSegments = dataLength > 0 ? 1 : 0;
  } else {
    if (segmentSize === 0) throw bad('an MDMF segment size cannot be 0');
    numSegments = divCeil(dataLength, segmentSize);
  }
  if (numSegments > MAX_MUTABLE_SEGMENTS) {
    throw new InputError(
      `${numSegments} segments is more than the ${MAX_MUTABLE_SEGMENTS} this implementation handles`,
      'TOO_MANY_SEGMENTS',
    );
  }
  const blockSize = segmentSize / k;
  const tailSize = numSegments === 0 ? 0 : dataLength - (numSegments - 1) * segmentSize;
  const tailBlockSize = divCeil(tailSize, k);
  const salt = format === 'mdmf' ? SALT_BYTES : 0;
  const shareDataSize = numSegments === 0 ? 0 : (numSegments - 1) * (salt + blockSize) + salt + tailBlockSize;
  return {
    format,
    k,
    n,
    segmentSize,
    dataLength,
    numSegments,
    blockSize,
    tailSize,
    tailBlockSize,
    shareDataSize,
  };
}

/** Plaintext start and length of segment `s`. */
export function segmentSpan(g: MutableGeometry, s: number): { start: number; length: number } {
  checkSegment(g, s);
  return { start: s * g.segmentSize, length: s === g.numSegments - 1 ? g.tailSize : g.segmentSize };
}

/** Length of every share's block of segment `s` (without MDMF's salt). */
export function blockLength(g: MutableGeometry, s: number): number {
  checkSegment(g, s);
  return s === g.numSegments - 1 ? g.tailBlockSize : g.blockSize;
}

function checkSegment(g: MutableGeometry, s: number): void {
  if (!Number.isInteger(s) || s < 0 || s >= g.numSegments) {
    throw new InputError(`segment ${s} is outside a file of ${g.numSegments} segments`);
  }
}

export interface PrefixFields {
  readonly format: MutableFormat;
  readonly seqnum: number;
  readonly rootHash: Uint8Array;
  /** SDMF only (16 bytes). */
  readonly iv?: Uint8Array;
  readonly k: number;
  readonly n: number;
  readonly segmentSize: number;
  readonly dataLength: number;
}

/** The bytes that get signed. Validates every field (a writer's mistake is caught here). */
export function encodePrefix(p: PrefixFields): Uint8Array {
  mutableGeometry(p.format, p.k, p.n, p.segmentSize, p.dataLength);
  if (!isCount(p.seqnum))
    throw new InputError(`sequence number must be a non-negative integer, not ${p.seqnum}`);
  if (p.rootHash.length !== 32) throw new InputError('root hash must be 32 bytes');
  const sdmf = p.format === 'sdmf';
  if (sdmf ? p.iv?.length !== SALT_BYTES : p.iv !== undefined) {
    throw new InputError(sdmf ? 'an SDMF prefix needs a 16-byte IV' : 'an MDMF prefix has no IV');
  }
  const out = new Uint8Array(prefixBytesOf(p.format));
  const view = new DataView(out.buffer);
  out[0] = sdmf ? SDMF_VERSION : MDMF_VERSION;
  view.setBigUint64(1, BigInt(p.seqnum));
  out.set(p.rootHash, 9);
  let at = 41;
  if (sdmf) {
    out.set(p.iv!, at);
    at += SALT_BYTES;
  }
  out[at] = p.k;
  out[at + 1] = p.n;
  view.setBigUint64(at + 2, BigInt(p.segmentSize));
  view.setBigUint64(at + 10, BigInt(p.dataLength));
  return out;
}

/** The format a share's first byte names; anything else is a version this code cannot read. */
export function formatOfVersion(shnum: number, version: number): MutableFormat {
  if (version === SDMF_VERSION) return 'sdmf';
  if (version === MDMF_VERSION) return 'mdmf';
  throw new UnsupportedMutableShareError(shnum, `unknown mutable share version ${version}`);
}

/**
 * Parse and validate the signed prefix at the start of `bytes` (which may run on). Throws
 * MutableShareCorruptError (field 'prefix') or UnsupportedMutableShareError.
 */
export function decodePrefix(shnum: number, bytes: Uint8Array): SignedPrefix {
  if (bytes.length < 1) throw new MutableShareCorruptError(shnum, 'prefix', 'share is empty');
  const format = formatOfVersion(shnum, bytes[0]);
  const size = prefixBytesOf(format);
  if (bytes.length < size) {
    throw new MutableShareCorruptError(
      shnum,
      'prefix',
      `share is truncated (${bytes.length} of ${size} bytes)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const u64 = (at: number, what: string) => {
    const v = view.getBigUint64(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new UnsupportedMutableShareError(shnum, `${what} ${v} is too large`);
    }
    return Number(v);
  };
  const seqnum = u64(1, 'sequence number');
  const rootHash = bytes.slice(9, 41);
  const iv = format === 'sdmf' ? bytes.slice(41, 57) : undefined;
  const at = format === 'sdmf' ? 57 : 41;
  const k = bytes[at];
  const n = bytes[at + 1];
  const segmentSize = u64(at + 2, 'segment size');
  const dataLength = u64(at + 10, 'data length');
  let g: MutableGeometry;
  try {
    g = mutableGeometry(format, k, n, segmentSize, dataLength);
  } catch (err) {
    if (err instanceof InputError && err.code === 'TOO_MANY_SEGMENTS') {
      throw new UnsupportedMutableShareError(shnum, err.message);
    }
    throw new MutableShareCorruptError(shnum, 'prefix', (err as Error).message, { cause: err });
  }
  return { ...g, seqnum, rootHash, iv };
}

/** The checkstring of a signed prefix (its leading bytes through the root hash or IV). */
export function checkstringOf(prefixBytes: Uint8Array): Uint8Array {
  const version = prefixBytes[0];
  if (version !== SDMF_VERSION && version !== MDMF_VERSION) {
    throw new InputError(`not a mutable prefix (version byte ${version})`);
  }
  const size = checkstringBytesOf(version === SDMF_VERSION ? 'sdmf' : 'mdmf');
  if (prefixBytes.length < size) throw new InputError(`a checkstring needs ${size} bytes of prefix`);
  return prefixBytes.slice(0, size);
}
