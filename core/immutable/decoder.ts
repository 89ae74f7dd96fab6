/**
 * CHK decoder (reference/tahoe-formats.md §2.12): cap + share access in, verified plaintext
 * out, segment by segment.
 *
 * Trust flows from the cap: the UEB must hash to the cap's UEB hash; the UEB gives the
 * share-tree and crypttext-tree roots; each share's hash chain must reach the share root
 * and its block tree must hang from its leaf; each block must match its block-tree leaf
 * before it is decoded, and each decoded segment must match the crypttext tree before it
 * is decrypted. A share that fails any check is reported (ShareCorruptError with its
 * number) and replaced by another; nothing unverified is ever returned.
 */
import type { ChkCap } from '../caps/immutable.ts';
import type { Codec } from '../codec/index.ts';
import { type CairnError, InputError } from '../errors.ts';
import { BadHashError, NotEnoughHashesError } from '../hashtree/errors.ts';
import { leafIndex } from '../hashtree/tree.ts';
import { checkFullTree, IncompleteHashTree } from '../hashtree/verify.ts';
import { equalBytes } from '../primitives/bytes.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import {
  ChkIntegrityError,
  NotEnoughSharesError,
  ShareCorruptError,
  ShareUnavailableError,
  UebError,
} from './errors.ts';
import {
  blockOffset,
  checkHeader,
  chainLength,
  decodeChain,
  readUebOffset,
  type ShareLayout,
  segmentTreeBytes,
  shareLayout,
} from './layout.ts';
import { blockLength, type SegmentGeometry, segmentGeometry, segmentSpan } from './params.ts';
import { localRunner, type SegmentRunner } from './segment.ts';
import { MAX_UEB_LENGTH, parseUeb, type UebFields, uebHash } from './ueb.ts';

/** Access to a file's shares by byte range; the grid downloader implements it over servers. */
export interface ShareReader {
  /**
   * Share numbers that can be asked for, in order of preference. Without `rank`, the decoder
   * takes primary shares (< k) first, since decoding them is a copy, then the rest in this order.
   */
  readonly shnums: readonly number[];
  /**
   * Optional: `candidates` (the shares not given up on) in the order to use them for the
   * next segment, best first; asked before every segment, so the choice can follow how fast
   * each share's server turns out to be. Shares left out go last, in the decoder's order.
   */
  rank?(candidates: readonly number[], k: number): readonly number[];
  /**
   * Up to `length` bytes of share `shnum` from `offset`. Fewer bytes means the share ends
   * early (it is then treated as truncated). Throwing means the share is unavailable.
   */
  read(shnum: number, offset: number, length: number): Promise<Uint8Array>;
}

export interface DecodeOptions {
  readonly backend: CryptoBackend;
  readonly codec: Codec;
  /** First plaintext byte wanted (default 0). */
  readonly offset?: number;
  /** Bytes wanted (default: to the end of the file). */
  readonly length?: number;
  /** Where block verification, decoding and decryption run (default: this thread). */
  readonly runner?: SegmentRunner;
  /** Segments fetched and decoded ahead (default: twice the runner's parallelism, at least 2). */
  readonly depth?: number;
  /** Told about every share given up on, as it happens. */
  readonly onShareError?: (err: ShareCorruptError | ShareUnavailableError) => void;
}

/**
 * Hash trees are read whole (one request per share). Their size grows with the segment
 * count, so refuse absurd ones (2^21 segments: 256 GiB at 128 KiB segments).
 */
const MAX_TREE_BYTES = 64 * 1024 * 1024;
/** Enough for either header version. */
const HEADER_READ = 0x44;

interface ShareState {
  readonly shnum: number;
  /** Verified block-tree leaves, one per segment. */
  readonly blockLeaves: Uint8Array[];
}

interface FileState {
  readonly ueb: UebFields;
  readonly geometry: SegmentGeometry;
  readonly layout: ShareLayout;
  readonly crypttextLeaves: Uint8Array[];
  readonly shareTree: IncompleteHashTree;
}

/** Yield the plaintext of `[offset, offset+length)` of the file, one segment's worth at a time. */
export async function* decodeChk(
  cap: ChkCap,
  reader: ShareReader,
  opts: DecodeOptions,
): AsyncGenerator<Uint8Array> {
  const start = opts.offset ?? 0;
  const end = opts.length === undefined ? cap.size : Math.min(cap.size, start + opts.length);
  if (!Number.isSafeInteger(start) || start < 0 || start > cap.size) {
    throw new InputError(`read offset ${start} is outside a file of ${cap.size} bytes`);
  }
  if (opts.length !== undefined && (!Number.isSafeInteger(opts.length) || opts.length < 0)) {
    throw new InputError(`read length must be a non-negative integer, not ${opts.length}`);
  }
  if (end <= start) return;

  const session = new DecodeSession(cap, reader, opts);
  const file = await session.open();
  const first = Math.floor(start / file.geometry.segmentSize);
  const last = Math.floor((end - 1) / file.geometry.segmentSize);
  const depth = Math.max(1, opts.depth ?? Math.max(2, 2 * session.parallelism));
  // Up to `depth` segments are fetched and decoded ahead; they are yielded in order.
  const inflight: Promise<Uint8Array>[] = [];
  let next = first;
  for (let s = first; s <= last; s++) {
    while (next <= last && inflight.length < depth) {
      const p = session.segment(file, next++);
      p.catch(() => {}); // rejections surface when this segment's turn comes
      inflight.push(p);
    }
    const plaintext = await inflight.shift()!;
    const span = segmentSpan(file.geometry, s);
    const from = Math.max(start, span.start) - span.start;
    const to = Math.min(end, span.start + span.length) - span.start;
    yield from === 0 && to === plaintext.length ? plaintext : plaintext.subarray(from, to);
  }
}

/** Read and verify a whole range into one buffer (small files, tests, the CLI). */
export async function readChk(cap: ChkCap, reader: ShareReader, opts: DecodeOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const p of decodeChk(cap, reader, opts)) {
    parts.push(p);
    total += p.length;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

class DecodeSession {
  readonly #cap: ChkCap;
  readonly #reader: ShareReader;
  readonly #opts: DecodeOptions;
  /** Shares not yet given up on, in preference order. */
  readonly #candidates: number[];
  readonly #active = new Map<number, Promise<ShareState>>();
  readonly #runner: SegmentRunner;
  readonly #problems: CairnError[] = [];

  constructor(cap: ChkCap, reader: ShareReader, opts: DecodeOptions) {
    this.#cap = cap;
    this.#reader = reader;
    this.#opts = opts;
    this.#runner = opts.runner ?? localRunner(opts.backend, opts.codec);
    // Primary shares (< k) first, since decoding them is a copy; otherwise the reader's order.
    const valid = [...new Set(reader.shnums)].filter((s) => Number.isInteger(s) && s >= 0 && s < cap.n);
    this.#candidates = [...valid.filter((s) => s < cap.k), ...valid.filter((s) => s >= cap.k)];
  }

  get parallelism(): number {
    return this.#runner.parallelism;
  }

  #fail(err: unknown, shnum: number): void {
    if (!this.#candidates.includes(shnum)) return; // already given up (concurrent segments)
    const e =
      err instanceof ShareCorruptError || err instanceof ShareUnavailableError
        ? err
        : err instanceof BadHashError || err instanceof NotEnoughHashesError || err instanceof UebError
          ? new ShareCorruptError(shnum, err.message, { cause: err })
          : new ShareUnavailableError(shnum, { cause: err });
    const i = this.#candidates.indexOf(shnum);
    if (i >= 0) this.#candidates.splice(i, 1);
    this.#active.delete(shnum);
    this.#problems.push(e);
    this.#opts.onShareError?.(e);
  }

  #notEnough(good: number): NotEnoughSharesError {
    return new NotEnoughSharesError(this.#cap.k, good, this.#problems);
  }

  /** The candidates in the order to try them: the reader's ranking if it has one. */
  #order(): number[] {
    const ranked = this.#reader.rank?.(this.#candidates, this.#cap.k);
    if (!ranked) return this.#candidates;
    const out = [...new Set(ranked)].filter((s) => this.#candidates.includes(s));
    return out.length === this.#candidates.length
      ? out
      : [...out, ...this.#candidates.filter((s) => !out.includes(s))];
  }

  /** Up to `length` bytes (fewer where the share ends). */
  async #readUpTo(shnum: number, offset: number, length: number): Promise<Uint8Array> {
    try {
      return await this.#reader.read(shnum, offset, length);
    } catch (err) {
      throw new ShareUnavailableError(shnum, { cause: err });
    }
  }

  /** Exactly `length` bytes, or a truncation error naming the share. */
  async #read(shnum: number, offset: number, length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.#readUpTo(shnum, offset, length);
    if (bytes.length < length) throw new ShareCorruptError(shnum, `share is truncated (in the ${what})`);
    return bytes.length === length ? bytes : bytes.subarray(0, length);
  }

  /** Find a share whose UEB matches the cap; then check the crypttext tree. */
  async open(): Promise<FileState> {
    const cap = this.#cap;
    for (const shnum of [...this.#order()]) {
      try {
        const head = await this.#read(shnum, 0, HEADER_READ, 'header');
        const { version, uebOffset } = readUebOffset(shnum, head);
        // The UEB ends the share and is under 2000 bytes: one read past its end gets it all.
        const field = version === 1 ? 4 : 8;
        const tail = await this.#readUpTo(shnum, uebOffset, field + MAX_UEB_LENGTH);
        if (tail.length < field) throw new ShareCorruptError(shnum, 'share is truncated (in the UEB length)');
        const view = new DataView(tail.buffer, tail.byteOffset, tail.length);
        const uebLen = version === 1 ? view.getUint32(0) : Number(view.getBigUint64(0));
        if (uebLen >= MAX_UEB_LENGTH)
          throw new ShareCorruptError(shnum, `URI extension block length ${uebLen} is too large`);
        if (tail.length < field + uebLen)
          throw new ShareCorruptError(shnum, 'share is truncated (in the UEB)');
        const uebBytes = tail.subarray(field, field + uebLen);
        if (!equalBytes(uebHash(uebBytes), cap.uebHash)) {
          throw new ShareCorruptError(shnum, 'URI extension block does not match the cap');
        }
        // From here the UEB is authentic: a fault in it is the uploader's, not this share's.
        const ueb = parseUebTrusted(uebBytes);
        const geometry = fileGeometry(cap, ueb);
        if (segmentTreeBytes(geometry.numSegments) > MAX_TREE_BYTES) {
          throw new InputError(
            `the file has ${geometry.numSegments} segments; this decoder reads whole hash trees and stops at ` +
              `${MAX_TREE_BYTES / 32 / 2} (a larger segment size would make fewer)`,
            'TOO_MANY_SEGMENTS',
          );
        }
        const layout = shareLayout(geometry);
        checkHeader(shnum, head, layout);
        const ctBytes = await this.#read(
          shnum,
          layout.crypttextTreeOffset,
          segmentTreeBytes(geometry.numSegments),
          'crypttext hash tree',
        );
        const crypttextLeaves = checkFullTree(
          splitHashes(ctBytes),
          geometry.numSegments,
          ueb.crypttextRootHash,
        );
        const file: FileState = {
          ueb,
          geometry,
          layout,
          crypttextLeaves,
          shareTree: new IncompleteHashTree(cap.n, ueb.shareRootHash),
        };
        return file;
      } catch (err) {
        // Faults of the file itself, not of this share: no other share can do better.
        if (err instanceof ChkIntegrityError || err instanceof InputError) throw err;
        this.#fail(err, shnum);
      }
    }
    throw this.#notEnough(0);
  }

  /** Validate a share's hash chain and block tree; afterwards its blocks can be checked. */
  async #activate(file: FileState, shnum: number): Promise<ShareState> {
    const { layout, geometry } = file;
    const head = await this.#read(shnum, 0, layout.headerSize, 'header');
    checkHeader(shnum, head, layout);
    const chainLen = 34 * chainLength(this.#cap.n);
    const treeBytes = segmentTreeBytes(geometry.numSegments);
    // Block tree and chain are adjacent: one read.
    const both = await this.#read(shnum, layout.blockHashesOffset, treeBytes + chainLen, 'hash trees');
    const chain = decodeChain(both.subarray(treeBytes));
    const leafNode = leafIndex(this.#cap.n, shnum);
    if (!chain.has(leafNode)) throw new ShareCorruptError(shnum, 'share hash chain lacks its own leaf');
    file.shareTree.setHashes(chain);
    const root = file.shareTree.get(leafNode)!;
    const blockLeaves = checkFullTree(splitHashes(both.subarray(0, treeBytes)), geometry.numSegments, root);
    return { shnum, blockLeaves };
  }

  /** Fetch k verified blocks of segment `s`, decode, verify and decrypt; returns its plaintext. */
  async segment(file: FileState, s: number): Promise<Uint8Array> {
    const { k, n } = this.#cap;
    const len = blockLength(file.geometry, s);
    const offset = blockOffset(file.layout, s);
    const span = segmentSpan(file.geometry, s);
    const good = new Map<number, { block: Uint8Array; leaf: Uint8Array }>();
    const tried = new Set<number>();
    for (;;) {
      while (good.size < k) {
        // Ask for as many blocks as are still missing, from shares not yet tried this segment.
        const want = this.#order()
          .filter((shnum) => !tried.has(shnum))
          .slice(0, k - good.size);
        if (want.length === 0) throw this.#notEnough(good.size);
        for (const shnum of want) tried.add(shnum);
        const got = await Promise.all(want.map((shnum) => this.#block(file, shnum, s, offset, len)));
        got.forEach((b, i) => {
          if (b) good.set(want[i], b);
        });
      }
      const shnums = [...good.keys()];
      const result = await this.#runner.decode({
        k,
        n,
        key: this.#cap.key,
        offset: span.start,
        length: span.length,
        blocks: shnums.map((sh) => good.get(sh)!.block),
        shnums,
        // Slices: a view would carry its whole tree across a worker boundary.
        blockLeaves: shnums.map((sh) => good.get(sh)!.leaf.slice()),
        crypttextLeaf: file.crypttextLeaves[s].slice(),
      });
      if (result.ok) return result.plaintext;
      if ('crypttextMismatch' in result) {
        throw new ChkIntegrityError(
          `segment ${s} decodes from verified blocks to ciphertext its hash tree rejects`,
        );
      }
      for (const i of result.badBlocks) {
        this.#fail(new ShareCorruptError(shnums[i], `block ${s} fails its hash`), shnums[i]);
        good.delete(shnums[i]);
      }
    }
  }

  /** Block `s` of a share with its verified leaf; undefined (and the share dropped) on failure. */
  async #block(file: FileState, shnum: number, s: number, offset: number, len: number) {
    try {
      let state = this.#active.get(shnum);
      if (!state) {
        state = this.#activate(file, shnum);
        this.#active.set(shnum, state);
      }
      const { blockLeaves } = await state;
      const block = await this.#read(shnum, offset, len, `block ${s}`);
      return { block, leaf: blockLeaves[s] };
    } catch (err) {
      this.#fail(err, shnum);
      return undefined;
    }
  }
}

function parseUebTrusted(bytes: Uint8Array): UebFields {
  try {
    return parseUeb(bytes);
  } catch (err) {
    throw new ChkIntegrityError(`the file's URI extension block is malformed: ${(err as Error).message}`);
  }
}

/** Sizes from the cap (authoritative for k, N, size) and the UEB's segment size. */
function fileGeometry(cap: ChkCap, ueb: UebFields): SegmentGeometry {
  let g: SegmentGeometry;
  try {
    g = segmentGeometry(cap.size, cap.k, cap.n, ueb.segmentSize);
  } catch (err) {
    throw new ChkIntegrityError(
      `the file's URI extension block has unusable sizes: ${(err as Error).message}`,
    );
  }
  if (ueb.numSegments !== g.numSegments || ueb.size !== cap.size) {
    throw new ChkIntegrityError("the file's URI extension block disagrees with the cap about its size");
  }
  return g;
}

/**
 * A stored tree as hashes. One copy of the bytes read, then views into that copy: the copy
 * pins only the tree, not the whole read buffer. Hashes sent to a worker are sliced again.
 */
function splitHashes(bytes: Uint8Array): Uint8Array[] {
  const own = bytes.slice();
  const out: Uint8Array[] = [];
  for (let i = 0; i + 32 <= own.length; i += 32) out.push(own.subarray(i, i + 32));
  return out;
}
