/**
 * Build every share of a new version of a mutable file (reference/tahoe-formats.md §4.8):
 * per segment a fresh salt, AES-CTR under its data key, zfec, block-hash leaves; then each
 * share's block hash tree, the share hash tree over their roots (its root R goes into the
 * prefix), the signature over the prefix, and the shares laid out.
 *
 * In two passes, so that a large file is never held N/k times over: the first encodes every
 * segment into one reused buffer only to hash its blocks (the salts are kept); once signed,
 * any byte range of the shares can be made by encoding the segments it covers again from
 * their salts (encodeMutableStream), which the publisher does call by call into reused
 * buffers. encodeMutable lays the shares out whole from the same stream. Randomness (the
 * salts) and the signature come from the caller.
 */
import type { Codec } from '../codec/index.ts';
import { InputError } from '../errors.ts';
import { buildHashTree, buildPackedHashTree } from '../hashtree/tree.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { type Pkcs8Der, RSA_SIGNATURE_BYTES, type SpkiDer } from '../primitives/rsa.ts';
import { cryptPrivateKey, readKeyOf, writeKeyOf } from './keys.ts';
import {
  encodeMutableChain,
  encodeOffsets,
  headerFor,
  type MutableShareHeader,
  segmentOffset,
  shareLayout,
} from './layout.ts';
import {
  blockLength,
  checkstringOf,
  encodePrefix,
  type MutableFormat,
  planMutable,
  SALT_BYTES,
  type SignedPrefix,
  segmentSpan,
} from './prefix.ts';
import { BLOCK_PREFIX, encodeMutableSegmentInto } from './segment.ts';

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

/** A signed version whose share bytes are made on demand, range by range. */
export interface MutableVersionStream extends Omit<EncodedMutableVersion, 'shares'> {
  readonly n: number;
  /** Bytes of every share (all shares of a version have the same length). */
  readonly shareLength: number;
  /**
   * Where the share data's segments start and end, in order: a range that starts and ends
   * on these (or outside the share data) is made without encoding any segment twice.
   */
  readonly segmentBoundaries: readonly number[];
  /**
   * Writes bytes [offset, offset + out[sh].length) of share sh into out[sh] for every share
   * number (out holds N buffers of one length); every byte of them is written. Calls run
   * one at a time, in the order made.
   */
  fill(offset: number, out: readonly Uint8Array[]): Promise<void>;
}

export async function encodeMutable(
  input: MutableEncodeInput,
  tools: MutableTools,
): Promise<EncodedMutableVersion> {
  const stream = await encodeMutableStream(input, tools);
  const shares = Array.from({ length: input.n }, () => new Uint8Array(stream.shareLength));
  await stream.fill(0, shares);
  const { n: _n, shareLength: _l, segmentBoundaries: _b, fill: _f, ...version } = stream;
  return { ...version, shares };
}

/** Pass one (salts, leaves, trees, signature) of a new version; its shares are made by fill(). */
export async function encodeMutableStream(
  input: MutableEncodeInput,
  tools: MutableTools,
): Promise<MutableVersionStream> {
  const { format, k, n, data } = input;
  const g = planMutable(format, data.length, k, n);
  const writeKey = writeKeyOf(input.privateKey);
  const readKey = readKeyOf(writeKey);
  const encPrivKey = cryptPrivateKey(writeKey, input.privateKey);
  const layout = shareLayout(g, input.publicKey.length, encPrivKey.length);
  const saltBytes = format === 'mdmf' ? SALT_BYTES : 0;

  /** Share-data bytes of segment `s` in every share: [start, end). */
  const segmentAt = (s: number) => {
    const start = segmentOffset(layout, g, s);
    return { start, end: start + saltBytes + blockLength(g, s) };
  };
  const job = (s: number, salt: Uint8Array) => {
    const span = segmentSpan(g, s);
    return { format, k, n, salt, readKey, plaintext: data.subarray(span.start, span.start + span.length) };
  };

  // One segment's N slots, reused: pass one hashes each segment here, and it keeps the last
  // segment a fill needed only part of (SDMF's one segment straight from pass one).
  const slotBytes = g.numSegments === 0 ? 0 : saltBytes + g.blockSize;
  const scratch = new Uint8Array(n * slotBytes);
  let cached = -1;
  const slotsOf = (s: number) => {
    const len = saltBytes + blockLength(g, s);
    return Array.from({ length: n }, (_, sh) => scratch.subarray(sh * slotBytes, sh * slotBytes + len));
  };

  const salts: Uint8Array[] = [];
  const leaves = Array.from({ length: n }, () => new Uint8Array(32 * g.numSegments));
  for (let s = 0; s < g.numSegments; s++) {
    const salt = freshSalt(input.random);
    salts.push(salt);
    const slots = slotsOf(s);
    await encodeMutableSegmentInto(job(s, salt), tools.backend, tools.codec, slots);
    cached = s;
    const hashed = await tools.backend.taggedHashes(BLOCK_PREFIX, slots);
    for (let sh = 0; sh < n; sh++) leaves[sh].set(hashed[sh], 32 * s);
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
  if (signature.length !== RSA_SIGNATURE_BYTES) {
    throw new InputError(`signature must be ${RSA_SIGNATURE_BYTES} bytes, not ${signature.length}`);
  }
  const header = headerFor(prefixBytes, input.publicKey.length, encPrivKey.length);
  const l = header.layout;
  // Everything but the share data, as writeShareMeta lays it out; the rest is zeros.
  const offsetsTable = encodeOffsets(l);
  const meta = (sh: number): { at: number; bytes: Uint8Array }[] => [
    { at: 0, bytes: prefixBytes },
    { at: prefixBytes.length, bytes: offsetsTable },
    { at: l.pubkey, bytes: input.publicKey },
    { at: l.signature, bytes: signature },
    { at: l.shareHashChain, bytes: encodeMutableChain(n, sh, shareTree) },
    { at: l.blockHashTree, bytes: blockTrees[sh] },
    { at: l.encPrivKey, bytes: encPrivKey },
  ];
  const metas = Array.from({ length: n }, (_, sh) => meta(sh));
  const dataStart = l.shareData;
  const dataEnd = l.shareData + g.shareDataSize;

  const fillNow = async (offset: number, out: readonly Uint8Array[]) => {
    if (out.length !== n) throw new InputError(`fill needs ${n} buffers, not ${out.length}`);
    const length = out[0]?.length ?? 0;
    if (out.some((o) => o.length !== length) || !Number.isSafeInteger(offset) || offset < 0) {
      throw new InputError('fill needs buffers of one length at a non-negative offset');
    }
    const end = offset + length;
    if (end > l.eof) throw new InputError(`bytes [${offset}, ${end}) run past a share of ${l.eof}`);
    // Outside the share data: zeros, then the parts that fall in the range.
    for (let sh = 0; sh < n; sh++) {
      const o = out[sh];
      o.fill(0, 0, Math.max(0, Math.min(end, dataStart) - offset));
      if (end > dataEnd) o.fill(0, Math.max(0, dataEnd - offset));
      for (const m of metas[sh]) {
        const from = Math.max(offset, m.at);
        const to = Math.min(end, m.at + m.bytes.length);
        if (from < to) o.set(m.bytes.subarray(from - m.at, to - m.at), from - offset);
      }
    }
    if (g.numSegments === 0 || end <= dataStart || offset >= dataEnd) return;
    const first = segmentAt(0);
    const span = first.end - first.start; // every segment's but the last
    const firstSeg = Math.floor((Math.max(offset, dataStart) - dataStart) / span);
    const lastSeg = Math.min(g.numSegments - 1, Math.floor((Math.min(end, dataEnd) - 1 - dataStart) / span));
    for (let s = firstSeg; s <= lastSeg; s++) {
      const { start, end: segEnd } = segmentAt(s);
      if (start >= offset && segEnd <= end) {
        // Whole: straight into the caller's buffers.
        const views = out.map((o) => o.subarray(start - offset, segEnd - offset));
        await encodeMutableSegmentInto(job(s, salts[s]), tools.backend, tools.codec, views);
        continue;
      }
      // In part: encode it once into the scratch and copy what the range holds.
      const slots = slotsOf(s);
      if (cached !== s) {
        cached = -1;
        await encodeMutableSegmentInto(job(s, salts[s]), tools.backend, tools.codec, slots);
        cached = s;
      }
      const from = Math.max(offset, start);
      const to = Math.min(end, segEnd);
      for (let sh = 0; sh < n; sh++) out[sh].set(slots[sh].subarray(from - start, to - start), from - offset);
    }
  };
  let queue: Promise<unknown> = Promise.resolve();
  const fill = (offset: number, out: readonly Uint8Array[]): Promise<void> => {
    const run = queue.then(() => fillNow(offset, out));
    queue = run.catch(() => {});
    return run;
  };

  const segmentBoundaries: number[] = [];
  for (let s = 0; s < g.numSegments; s++) segmentBoundaries.push(segmentAt(s).start);
  if (g.numSegments > 0) segmentBoundaries.push(dataEnd);
  return {
    prefix: header.prefix,
    header,
    prefixBytes,
    checkstring: checkstringOf(prefixBytes),
    rootHash,
    signature,
    salts,
    n,
    shareLength: l.eof,
    segmentBoundaries,
    fill,
  };
}
