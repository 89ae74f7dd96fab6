/**
 * Checking CHK shares against what a verify cap knows (its UEB hash, k, N, size), in the
 * steps a reader takes (reference/tahoe-formats.md §2.12): a share's URI extension block
 * must hash to the cap's UEB hash, which makes its share-tree and crypttext-tree roots
 * authentic; a share's hash chain must reach that share root and its block hash tree must
 * hang from its leaf; each block must hash to its leaf. The downloader (decoder.ts), the
 * verifier and the repairer (core/check/) all use these steps; none needs the file's key.
 */
import { InputError } from '../errors.ts';
import { leafIndex, MERKLE_INTERNAL_PREFIX, pairHash } from '../hashtree/tree.ts';
import { checkFullTree, IncompleteHashTree } from '../hashtree/verify.ts';
import { equalBytes } from '../primitives/bytes.ts';
import type { CryptoBackend, PairHasher } from '../primitives/crypto-backend.ts';
import { TAG_BLOCK } from '../primitives/tags.ts';
import { tagPrefix } from '../primitives/tagged-hash.ts';
import { ChkIntegrityError, ShareCorruptError, ShareUnavailableError } from './errors.ts';
import {
  checkHeader,
  chainLength,
  decodeChain,
  readTailOffsets,
  type ShareLayout,
  segmentTreeBytes,
  shareLayout,
} from './layout.ts';
import { type SegmentGeometry, segmentGeometry } from './params.ts';
import { MAX_UEB_LENGTH, parseUeb, type UebFields, uebHash } from './ueb.ts';

/** What identifies a CHK file's shares: a read cap and a verify cap both carry it. */
export interface ChkIdentity {
  readonly uebHash: Uint8Array;
  readonly k: number;
  readonly n: number;
  readonly size: number;
}

/** Reads up to `length` bytes of share `shnum` from `offset`; fewer where the share ends. */
export type ShareBytesReader = (shnum: number, offset: number, length: number) => Promise<Uint8Array>;

/** What an authentic UEB says about the file, and the share-tree state being filled in. */
export interface ChkFileState {
  readonly ueb: UebFields;
  /** The UEB's bytes as stored (the repairer writes them unchanged). */
  readonly uebBytes: Uint8Array;
  readonly geometry: SegmentGeometry;
  readonly layout: ShareLayout;
  readonly crypttextLeaves: Uint8Array[];
  readonly shareTree: IncompleteHashTree;
}

/** A share whose chain and block tree check out: its blocks can now be checked. */
export interface ChkShareState {
  readonly shnum: number;
  /** Verified block-tree leaves, one per segment. */
  readonly blockLeaves: Uint8Array[];
}

/**
 * Hash trees are read whole (one request per share). Their size grows with the segment
 * count, so refuse absurd ones (2^21 segments: 256 GiB at 128 KiB segments).
 */
export const MAX_TREE_BYTES = 64 * 1024 * 1024;
/** Enough for either header version. */
const HEADER_READ = 0x44;
const BLOCK_PREFIX = tagPrefix(TAG_BLOCK);

/**
 * Most bytes from the crypttext tree to the UEB that openFile() reads at once: files up to
 * ~8 GiB at 128 KiB segments. Past it (or where a header claims more) the trees are read
 * apart, after the UEB has said how large they are.
 */
const MAX_TAIL_SPAN = 4 * 1024 * 1024;

export class ChkShareVerifier {
  /** Shares whose header and tail openFile() read: activate() needs no more reads for them. */
  readonly #opened = new Map<number, { head: Uint8Array; tail: Uint8Array; tailOffset: number }>();

  /** The trees' interior-node hash: the backend's when given (faster than noble's). */
  readonly #pair: Promise<PairHasher>;

  constructor(
    readonly id: ChkIdentity,
    private readonly reader: ShareBytesReader,
    backend?: CryptoBackend,
  ) {
    this.#pair = backend ? backend.createPairHasher(MERKLE_INTERNAL_PREFIX) : Promise.resolve(pairHash);
    this.#pair.catch(() => {}); // seen by the first tree check
  }

  /** Up to `length` bytes (fewer where the share ends); a failed read is ShareUnavailableError. */
  async readUpTo(shnum: number, offset: number, length: number): Promise<Uint8Array> {
    try {
      return await this.reader(shnum, offset, length);
    } catch (err) {
      throw new ShareUnavailableError(shnum, { cause: err });
    }
  }

  /** Exactly `length` bytes, or a truncation error naming the share. */
  async read(shnum: number, offset: number, length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.readUpTo(shnum, offset, length);
    if (bytes.length < length) throw new ShareCorruptError(shnum, `share is truncated (in the ${what})`);
    return bytes.length === length ? bytes : bytes.subarray(0, length);
  }

  /**
   * Reads share `shnum`'s UEB and checks it against the cap, then the crypttext tree. A
   * fault of the file itself (a UEB that hashes right but says nonsense) is a
   * ChkIntegrityError or InputError: no other share can do better.
   */
  async openFile(shnum: number): Promise<ChkFileState> {
    const id = this.id;
    const head = await this.read(shnum, 0, HEADER_READ, 'header');
    const { version, crypttextTreeOffset, uebOffset } = readTailOffsets(shnum, head);
    // The crypttext tree, this share's block tree and chain and the UEB are one run at the
    // share's end, and the UEB is under 2000 bytes: one read from where the header says the
    // run starts to past the UEB's end gets all a reader needs from this share but its
    // blocks (one round trip instead of three). Offsets that cannot be right read only the UEB;
    // checkHeader then says what is wrong.
    const tailOffset =
      crypttextTreeOffset <= uebOffset && uebOffset - crypttextTreeOffset <= MAX_TAIL_SPAN
        ? crypttextTreeOffset
        : uebOffset;
    const at = uebOffset - tailOffset;
    const field = version === 1 ? 4 : 8;
    const tail = await this.readUpTo(shnum, tailOffset, at + field + MAX_UEB_LENGTH);
    if (tail.length < at + field) {
      throw new ShareCorruptError(shnum, 'share is truncated (in the UEB length)');
    }
    const view = new DataView(tail.buffer, tail.byteOffset + at, tail.length - at);
    const uebLen = version === 1 ? view.getUint32(0) : Number(view.getBigUint64(0));
    if (uebLen >= MAX_UEB_LENGTH)
      throw new ShareCorruptError(shnum, `URI extension block length ${uebLen} is too large`);
    if (tail.length < at + field + uebLen) {
      throw new ShareCorruptError(shnum, 'share is truncated (in the UEB)');
    }
    const uebBytes = tail.slice(at + field, at + field + uebLen);
    if (!equalBytes(uebHash(uebBytes), id.uebHash)) {
      throw new ShareCorruptError(shnum, 'URI extension block does not match the cap');
    }
    // From here the UEB is authentic: a fault in it is the uploader's, not this share's.
    const ueb = parseUebTrusted(uebBytes);
    const geometry = fileGeometry(id, ueb);
    if (segmentTreeBytes(geometry.numSegments) > MAX_TREE_BYTES) {
      throw new InputError(
        `the file has ${geometry.numSegments} segments; this decoder reads whole hash trees and stops at ` +
          `${MAX_TREE_BYTES / 32 / 2} (a larger segment size would make fewer)`,
        'TOO_MANY_SEGMENTS',
      );
    }
    const layout = shareLayout(geometry);
    checkHeader(shnum, head, layout);
    const treeBytes = segmentTreeBytes(geometry.numSegments);
    // The header is now known to be the one the geometry implies, so the tail is where it says.
    let ctBytes: Uint8Array;
    if (tailOffset === layout.crypttextTreeOffset) {
      ctBytes = tail.subarray(0, treeBytes);
      this.#opened.set(shnum, { head, tail, tailOffset });
    } else {
      ctBytes = await this.read(shnum, layout.crypttextTreeOffset, treeBytes, 'crypttext hash tree');
    }
    const crypttextLeaves = checkFullTree(
      splitHashes(ctBytes),
      geometry.numSegments,
      ueb.crypttextRootHash,
      await this.#pair,
    );
    return {
      ueb,
      uebBytes,
      geometry,
      layout,
      crypttextLeaves,
      shareTree: new IncompleteHashTree(id.n, ueb.shareRootHash),
    };
  }

  /** Validates a share's header, hash chain and block tree against the file's share root. */
  async activate(file: ChkFileState, shnum: number): Promise<ChkShareState> {
    const { layout, geometry } = file;
    const chainLen = 34 * chainLength(this.id.n);
    const treeBytes = segmentTreeBytes(geometry.numSegments);
    const opened = this.#opened.get(shnum);
    this.#opened.delete(shnum);
    // Block tree and chain are adjacent: one read, at once with the header's (the layout
    // says where both are); none for a share openFile() read, whose tail holds them whole
    // (it reaches past the UEB, which follows them).
    const at = layout.blockHashesOffset - (opened?.tailOffset ?? 0);
    const [head, both] = opened
      ? [opened.head, opened.tail.subarray(at, at + treeBytes + chainLen)]
      : await Promise.all([
          this.read(shnum, 0, layout.headerSize, 'header'),
          this.read(shnum, layout.blockHashesOffset, treeBytes + chainLen, 'hash trees'),
        ]);
    checkHeader(shnum, head, layout);
    const chain = decodeChain(both.subarray(treeBytes));
    const leafNode = leafIndex(this.id.n, shnum);
    if (!chain.has(leafNode)) throw new ShareCorruptError(shnum, 'share hash chain lacks its own leaf');
    file.shareTree.setHashes(chain);
    const root = file.shareTree.get(leafNode)!;
    const blockLeaves = checkFullTree(
      splitHashes(both.subarray(0, treeBytes)),
      geometry.numSegments,
      root,
      await this.#pair,
    );
    return { shnum, blockLeaves };
  }
}

/** Which of `blocks` (segments first, first+1, …) fail their share's block-tree leaves. */
export async function badBlocks(
  share: ChkShareState,
  first: number,
  blocks: readonly Uint8Array[],
  backend: CryptoBackend,
): Promise<number[]> {
  const hashes = await backend.taggedHashes(BLOCK_PREFIX, blocks);
  const bad: number[] = [];
  hashes.forEach((h, i) => {
    if (!equalBytes(h, share.blockLeaves[first + i])) bad.push(first + i);
  });
  return bad;
}

function parseUebTrusted(bytes: Uint8Array): UebFields {
  try {
    return parseUeb(bytes);
  } catch (err) {
    throw new ChkIntegrityError(`the file's URI extension block is malformed: ${(err as Error).message}`);
  }
}

/** Sizes from the cap (authoritative for k, N, size) and the UEB's segment size. */
function fileGeometry(id: ChkIdentity, ueb: UebFields): SegmentGeometry {
  let g: SegmentGeometry;
  try {
    g = segmentGeometry(id.size, id.k, id.n, ueb.segmentSize);
  } catch (err) {
    throw new ChkIntegrityError(
      `the file's URI extension block has unusable sizes: ${(err as Error).message}`,
    );
  }
  if (ueb.numSegments !== g.numSegments || ueb.size !== id.size) {
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
