/**
 * Plaintext from verified shares of one version (reference/tahoe-formats.md §4.10): which
 * segments a byte range needs, and each segment from any k verified blocks (zfec decode,
 * strip the padding, decrypt under the segment's data key). SDMF is a single segment, so any
 * read of it needs the whole file; MDMF reads only the segments that cover the range.
 */
import type { Codec } from '../codec/index.ts';
import { InputError } from '../errors.ts';
import { equalBytes } from '../primitives/bytes.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import type { ReadKey } from './keys.ts';
import type { MutableGeometry, SignedPrefix } from './prefix.ts';
import { segmentSpan } from './prefix.ts';
import { decodeMutableSegment } from './segment.ts';
import type { VerifiedShare } from './verify.ts';

export interface SegmentRange {
  readonly first: number;
  readonly last: number;
}

/**
 * The segments holding plaintext bytes [offset, offset + length), clipped to the file;
 * undefined when the range holds no byte. Throws for an offset past the end.
 */
export function segmentsCovering(
  g: MutableGeometry,
  offset: number,
  length: number,
): SegmentRange | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > g.dataLength) {
    throw new InputError(`read offset ${offset} is outside a file of ${g.dataLength} bytes`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new InputError(`read length must be a non-negative integer, not ${length}`);
  }
  const end = Math.min(g.dataLength, offset + length);
  if (end <= offset) return undefined;
  return { first: Math.floor(offset / g.segmentSize), last: Math.floor((end - 1) / g.segmentSize) };
}

export interface SegmentBlocks {
  /** k verified blocks of distinct shares (checkSegment passed for each). */
  readonly blocks: readonly Uint8Array[];
  readonly shnums: readonly number[];
  /** The segment's salt (SDMF: the prefix's IV). */
  readonly salt: Uint8Array;
}

/** Segment `s`'s plaintext from k verified blocks. */
export async function decodeSegment(
  prefix: SignedPrefix,
  s: number,
  input: SegmentBlocks,
  readKey: ReadKey,
  tools: { readonly codec: Codec; readonly backend: CryptoBackend },
): Promise<Uint8Array> {
  if (input.blocks.length !== prefix.k || input.shnums.length !== prefix.k) {
    throw new InputError(`decoding needs exactly k (${prefix.k}) blocks, not ${input.blocks.length}`);
  }
  const span = segmentSpan(prefix, s);
  return decodeMutableSegment(
    {
      k: prefix.k,
      n: prefix.n,
      salt: input.salt,
      readKey,
      length: span.length,
      blocks: input.blocks,
      shnums: input.shnums,
    },
    tools.backend,
    tools.codec,
  );
}

/**
 * Plaintext [offset, offset + length) (default: all) from verified whole shares of one version,
 * decoding only the covering segments from the first k shares given. For tests, small files and
 * the CLI; the retriever fetches and verifies segment by segment instead.
 */
export async function decodeRange(
  shares: readonly VerifiedShare[],
  readKey: ReadKey,
  tools: { readonly codec: Codec; readonly backend: CryptoBackend },
  range: { readonly offset?: number; readonly length?: number } = {},
): Promise<Uint8Array> {
  if (shares.length === 0) throw new InputError('no shares to decode');
  const { prefix, prefixBytes } = shares[0].header;
  for (const sh of shares) {
    if (!equalBytes(sh.header.prefixBytes, prefixBytes)) throw new InputError('shares of different versions');
  }
  const used = [...new Map(shares.map((sh) => [sh.shnum, sh])).values()].slice(0, prefix.k);
  if (used.length < prefix.k) throw new InputError(`need ${prefix.k} distinct shares, have ${used.length}`);
  const offset = range.offset ?? 0;
  const length = range.length ?? prefix.dataLength - offset;
  const segs = segmentsCovering(prefix, offset, length);
  if (!segs) return new Uint8Array(0);
  const end = Math.min(prefix.dataLength, offset + length);
  const out = new Uint8Array(end - offset);
  for (let s = segs.first; s <= segs.last; s++) {
    const plaintext = await decodeSegment(
      prefix,
      s,
      {
        blocks: used.map((sh) => sh.segments[s].block),
        shnums: used.map((sh) => sh.shnum),
        salt: used[0].segments[s].salt,
      },
      readKey,
      tools,
    );
    const span = segmentSpan(prefix, s);
    const from = Math.max(offset, span.start);
    const to = Math.min(end, span.start + span.length);
    out.set(plaintext.subarray(from - span.start, to - span.start), from - offset);
  }
  return out;
}
