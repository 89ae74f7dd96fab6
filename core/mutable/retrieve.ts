/**
 * Reading one version of a mutable file from the servers that hold it (tahoe-formats §4.10):
 * k shares are taken, each share's block hash tree is checked up its chain to the signed
 * root hash, then only the segments covering the wanted range are fetched (a window of
 * segments per request, the next window asked for as soon as this one is in use, a few
 * segments checked and decoded at once), every block is checked against its leaf, and k
 * blocks decode a segment. A share that fails any check is
 * dropped for another holder and reported to its server; wrong bytes are never returned.
 */
import { NotEnoughSharesError, ShareUnavailableError } from '../immutable/errors.ts';
import { MAX_READ_BYTES } from '../protocol/limits.ts';
import type { StorageIndex } from '../types.ts';
import { CairnError } from '../errors.ts';
import { equalBytes } from '../primitives/bytes.ts';
import { decodeSegment, segmentsCovering } from './decode.ts';
import type { MutableTools } from './encode.ts';
import { MutableShareCorruptError } from './errors.ts';
import type { ReadKey } from './keys.ts';
import {
  type ByteRange,
  readSegment,
  readVerificationMaterial,
  type SharePiece,
  segmentRange,
  verificationRanges,
} from './layout.ts';
import { segmentSpan } from './prefix.ts';
import type { MutableVersion, VerifiedSighting } from './servermap.ts';
import { checkSegment, checkShareHashes } from './verify.ts';

export interface RetrieveOptions {
  readKey: ReadKey;
  tools: MutableTools;
  /** First plaintext byte wanted (default 0). */
  offset?: number;
  /** Bytes wanted (default: to the end). */
  length?: number;
  signal?: AbortSignal;
  /** Told about every share given up on, as it happens. */
  onShareError?(err: MutableShareCorruptError | ShareUnavailableError): void;
  /** Told how many bytes each read asked for (tests count what a range read costs). */
  onRead?(shnum: number, bytes: number): void;
}

/** Segments checked and decoded at once. */
const SEGMENTS_IN_FLIGHT = 3;

/** Reads a byte range of a share, in as many requests as the protocol needs. */
async function readBytes(
  si: StorageIndex,
  s: VerifiedSighting,
  range: ByteRange,
  onRead?: (shnum: number, bytes: number) => void,
): Promise<SharePiece> {
  onRead?.(s.shnum, range.length);
  const bytes = await s.server.readMutableShare(si, s.shnum, range.offset, range.length);
  return { offset: range.offset, bytes };
}

const covers = (piece: SharePiece, r: ByteRange) =>
  piece.offset <= r.offset && piece.offset + piece.bytes.length >= r.offset + r.length;

/** Segments first..last of one share, fetched in one request. */
interface Window {
  readonly first: number;
  readonly last: number;
  readonly piece: Promise<SharePiece>;
}

/**
 * One share in use: its verified leaves and the windows of segments fetched from it. Asking
 * for a segment also starts fetching the window after its own, so the next request is under
 * way while this one's segments are checked and decoded.
 */
class ActiveShare {
  /** Fetched or in flight, in segment order; windows wholly behind the reader are dropped. */
  #windows: Window[] = [];

  /** The share's block hash tree leaves, checked (set by open before anyone asks for a segment). */
  private leaves: Uint8Array[] = [];

  private constructor(
    readonly sighting: VerifiedSighting,
    private readonly si: StorageIndex,
    private readonly lastWanted: number,
    private readonly opts: RetrieveOptions,
  ) {}

  /**
   * Fetches what verification needs beyond the head and checks the hash trees. The first
   * wanted segments are asked for in the same round: they are not used before the checks
   * pass, and a small file then costs one round trip less.
   */
  static async open(
    si: StorageIndex,
    s: VerifiedSighting,
    firstWanted: number,
    lastWanted: number,
    opts: RetrieveOptions,
  ): Promise<ActiveShare> {
    const share = new ActiveShare(s, si, lastWanted, opts);
    share.#windowOf(firstWanted);
    const head: SharePiece = { offset: 0, bytes: s.head };
    const missing = verificationRanges(s.header.layout).filter((r) => !covers(head, r));
    const pieces = [head, ...(await Promise.all(missing.map((r) => readBytes(si, s, r, opts.onRead))))];
    const material = readVerificationMaterial(s.shnum, s.header, pieces);
    share.leaves = checkShareHashes(s.shnum, s.header, material.chain, material.blockHashTree);
    return share;
  }

  get shnum(): number {
    return this.sighting.shnum;
  }

  /** Segments first..last in one request: as many as fit in a read, at least one. */
  #fetch(first: number): Window {
    const header = this.sighting.header;
    const start = segmentRange(header, first);
    let last = first;
    while (last < this.lastWanted) {
      const r = segmentRange(header, last + 1);
      if (r.offset + r.length - start.offset > MAX_READ_BYTES) break;
      last++;
    }
    const end = segmentRange(header, last);
    const range = { offset: start.offset, length: end.offset + end.length - start.offset };
    const head: SharePiece = { offset: 0, bytes: this.sighting.head };
    const piece = covers(head, range)
      ? Promise.resolve(head)
      : readBytes(this.si, this.sighting, range, this.opts.onRead);
    piece.catch(() => {}); // a failed read-ahead surfaces when its segments are asked for
    return { first, last, piece };
  }

  /** The window holding segment `s` (fetched now if none does), and the next one started. */
  #windowOf(s: number): Window {
    // Windows ending before the one in use are done with (a retried segment refetches).
    const i = this.#windows.findIndex((w) => w.last >= s - 1);
    this.#windows = i < 0 ? [] : this.#windows.slice(i);
    let w = this.#windows.find((x) => x.first <= s && s <= x.last);
    if (!w) {
      w = this.#fetch(s);
      this.#windows = [
        ...this.#windows.filter((x) => x.last < s),
        w,
        ...this.#windows.filter((x) => x.first > s),
      ];
    }
    const next = w.last + 1;
    if (next <= this.lastWanted && !this.#windows.some((x) => x.first <= next && next <= x.last)) {
      this.#windows.push(this.#fetch(next));
      this.#windows.sort((a, b) => a.first - b.first);
    }
    return w;
  }

  /** Segment `s`, checked against this share's block hash tree. */
  async segment(s: number): Promise<{ salt: Uint8Array; block: Uint8Array }> {
    const piece = await this.#windowOf(s).piece;
    const seg = readSegment(this.shnum, this.sighting.header, s, [piece]);
    await checkSegment(this.shnum, this.sighting.header, s, this.leaves, seg, this.opts.tools.backend);
    return seg;
  }
}

/** Yields the verified plaintext of the wanted range of `version`. */
export async function* retrieveVersion(
  si: StorageIndex,
  version: MutableVersion,
  opts: RetrieveOptions,
): AsyncGenerator<Uint8Array> {
  const { prefix } = version;
  const offset = opts.offset ?? 0;
  const length = opts.length ?? Math.max(0, prefix.dataLength - offset);
  const segs = segmentsCovering(prefix, Math.min(offset, prefix.dataLength), length);
  if (!segs) return;
  const end = Math.min(prefix.dataLength, offset + length);

  // One holder per share number first; other holders of a number stand by.
  const seenShnums = new Set<number>();
  const firstChoice: VerifiedSighting[] = [];
  const spares: VerifiedSighting[] = [];
  for (const s of version.shares) {
    (seenShnums.has(s.shnum) ? spares : firstChoice).push(s);
    seenShnums.add(s.shnum);
  }
  const candidates = [...firstChoice, ...spares];
  const problems: CairnError[] = [];
  const active = new Map<number, ActiveShare>();

  const giveUp = (s: VerifiedSighting, err: unknown) => {
    const e =
      err instanceof MutableShareCorruptError ? err : new ShareUnavailableError(s.shnum, { cause: err });
    problems.push(e);
    opts.onShareError?.(e);
    if (e instanceof MutableShareCorruptError) {
      // Tell the server, as Tahoe does — unless the share simply holds another version now (a
      // writer replaced it while we read): its bytes fail our version's hashes, yet nothing
      // is corrupt.
      void (async () => {
        const now = await s.server.readMutableShare(si, s.shnum, 0, s.checkstring.length).catch(() => null);
        if (now && !equalBytes(now, s.checkstring)) return;
        await s.server.adviseCorruptShare('mutable', si, s.shnum, e.message.slice(0, 1000));
      })().catch(() => {});
    }
  };

  const fill = async () => {
    while (active.size < prefix.k && candidates.length > 0) {
      const want = prefix.k - active.size;
      const batch: VerifiedSighting[] = [];
      for (let i = 0; i < candidates.length && batch.length < want; ) {
        const c = candidates[i];
        if (!active.has(c.shnum) && !batch.some((b) => b.shnum === c.shnum)) {
          batch.push(c);
          candidates.splice(i, 1);
        } else i++;
      }
      if (batch.length === 0) break;
      const opened = await Promise.allSettled(
        batch.map((s) => ActiveShare.open(si, s, segs.first, segs.last, opts)),
      );
      opened.forEach((r, i) => {
        if (r.status === 'fulfilled') active.set(batch[i].shnum, r.value);
        else giveUp(batch[i], r.reason);
      });
    }
    if (active.size < prefix.k) throw new NotEnoughSharesError(prefix.k, active.size, problems);
  };

  // Concurrent segments share one fill: the first to find too few shares opens more.
  let filling: Promise<void> | null = null;
  const enough = () => {
    filling ??= fill().finally(() => {
      filling = null;
    });
    return filling;
  };

  /** Segment `s`'s plaintext, from k shares that pass their checks (others are given up). */
  const segment = async (s: number): Promise<Uint8Array> => {
    for (;;) {
      if (opts.signal?.aborted) throw new CairnError('CANCELLED', 'the read was cancelled');
      await enough();
      const shares = [...active.values()].slice(0, prefix.k);
      const results = await Promise.allSettled(shares.map((a) => a.segment(s)));
      const got: { shnum: number; salt: Uint8Array; block: Uint8Array }[] = [];
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') got.push({ shnum: shares[i].shnum, ...r.value });
        else if (active.get(shares[i].shnum) === shares[i]) {
          // Given up once, even when segments in flight beside this one saw it fail too.
          active.delete(shares[i].shnum);
          giveUp(shares[i].sighting, r.reason);
        }
      });
      if (got.length === prefix.k) {
        return decodeSegment(
          prefix,
          s,
          { blocks: got.map((g) => g.block), shnums: got.map((g) => g.shnum), salt: got[0].salt },
          opts.readKey,
          opts.tools,
        );
      }
    }
  };

  // Up to SEGMENTS_IN_FLIGHT segments are checked and decoded at once (their async hashing
  // and decryption overlap), and yielded in order.
  const inflight: Promise<Uint8Array>[] = [];
  let next = segs.first;
  for (let s = segs.first; s <= segs.last; s++) {
    while (next <= segs.last && inflight.length < SEGMENTS_IN_FLIGHT) {
      const p = segment(next++);
      p.catch(() => {}); // rejections surface when this segment's turn comes
      inflight.push(p);
    }
    const plaintext = await inflight.shift()!;
    const span = segmentSpan(prefix, s);
    const from = Math.max(offset, span.start);
    const to = Math.min(end, span.start + span.length);
    if (to > from) yield plaintext.subarray(from - span.start, to - span.start);
  }
}
