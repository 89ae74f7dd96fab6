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
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import {
  ChkIntegrityError,
  NotEnoughSharesError,
  ShareCorruptError,
  ShareUnavailableError,
  UebError,
} from './errors.ts';
import { blockOffset } from './layout.ts';
import { blockLength, segmentSpan } from './params.ts';
import { localRunner, type SegmentRunner, segmentsInFlight } from './segment.ts';
import { BufferPool } from '../primitives/buffer-pool.ts';
import {
  type ChkFileState as FileState,
  type ChkIdentity,
  type ChkShareState as ShareState,
  ChkShareVerifier,
} from './share-verifier.ts';
import type { AesKey } from '../types.ts';

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
  /**
   * Segments fetched and decoded ahead (default: the runner's decodeDepth, else twice its
   * parallelism, at least 2).
   */
  readonly depth?: number;
  /**
   * Segments decrypted and yielded together, when the runner decodes in place (default 4:
   * 512 KiB pieces at Tahoe's segment size). Every piece costs whoever takes it something
   * of its own (a message to the service worker and a write in the browser, in a tab), and
   * every decryption a WebCrypto call.
   */
  readonly segmentsPerPiece?: number;
  /** Told about every share given up on, as it happens. */
  readonly onShareError?: (err: ShareCorruptError | ShareUnavailableError) => void;
}

/**
 * Yield the plaintext of `[offset, offset+length)` of the file, one segment's worth at a time.
 * Given a verify cap's identity with `key: null`, yield the verified ciphertext instead (what
 * a repairer re-encodes).
 */
export async function* decodeChk(
  cap: ChkCap | (ChkIdentity & { key: null }),
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
  const depth = Math.max(1, opts.depth ?? session.decodeDepth);
  const together = Math.max(1, Math.floor(opts.segmentsPerPiece ?? 4));
  if (cap.key && session.decodesInPlace && together > 1) {
    yield* decodeTogether(session, file, cap.key, opts.backend, { start, end, first, last, depth, together });
    return;
  }
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
    yield within(plaintext, segmentSpan(file.geometry, s).start, start, end);
  }
}

/** Bytes kept in front of a piece's ciphertext: a backend that needs whole AES blocks reads them. */
const LEAD = 16;

/**
 * decodeChk's loop when the runner decodes in place: segments lay their verified ciphertext
 * side by side in one buffer per piece (`together` segments, after a first piece of one),
 * and each piece is decrypted by one call into one buffer of its own.
 */
async function* decodeTogether(
  session: DecodeSession,
  file: FileState,
  key: AesKey,
  backend: CryptoBackend,
  r: { start: number; end: number; first: number; last: number; depth: number; together: number },
): AsyncGenerator<Uint8Array> {
  const g = file.geometry;
  // The first segment goes alone, so that the first bytes come as soon as they would one by one.
  const firstOf = (s: number) =>
    s === r.first ? s : r.first + 1 + Math.floor((s - r.first - 1) / r.together) * r.together;
  const lastOf = (s: number) => (s === r.first ? s : Math.min(r.last, firstOf(s) + r.together - 1));
  // Pieces' buffers, reused once decrypted (fresh memory costs page faults in Chromium).
  const pool = new BufferPool(4 * (LEAD + r.together * g.segmentSize));
  const buffers = new Map<number, Uint8Array>();
  const bufferOf = (s: number) => {
    const head = firstOf(s);
    let buf = buffers.get(head);
    if (!buf) {
      const tail = segmentSpan(g, lastOf(s));
      buf = pool.take(LEAD + tail.start + tail.length - segmentSpan(g, head).start);
      buffers.set(head, buf);
    }
    return buf;
  };
  const inflight: Promise<Uint8Array>[] = [];
  let next = r.first;
  for (let s = r.first; s <= r.last; s++) {
    while (next <= r.last && inflight.length < r.depth) {
      const span = segmentSpan(g, next);
      const at = LEAD + span.start - segmentSpan(g, firstOf(next)).start;
      const p = session.segment(file, next, bufferOf(next).subarray(at, at + span.length));
      next++;
      p.catch(() => {}); // rejections surface when this segment's turn comes
      inflight.push(p);
    }
    await inflight.shift()!;
    if (s !== lastOf(s)) continue;
    const head = firstOf(s);
    const buf = buffers.get(head)!;
    buffers.delete(head);
    const from = segmentSpan(g, head).start;
    const decrypting = backend.aesCtr(key, from, buf.subarray(LEAD));
    pool.give(buf); // read by the decryption before it returned (CryptoBackend's promise)
    yield within(await decrypting, from, r.start, r.end);
  }
}

/** The part of `bytes` (the file's bytes from `at` on) inside [start, end). */
function within(bytes: Uint8Array, at: number, start: number, end: number): Uint8Array {
  const a = Math.max(start, at) - at;
  const b = Math.min(end, at + bytes.length) - at;
  return a === 0 && b === bytes.length ? bytes : bytes.subarray(a, b);
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
  readonly #cap: ChkIdentity & { key: AesKey | null };
  readonly #reader: ShareReader;
  readonly #opts: DecodeOptions;
  /** Shares not yet given up on, in preference order. */
  readonly #candidates: number[];
  readonly #active = new Map<number, Promise<ShareState>>();
  readonly #runner: SegmentRunner;
  readonly #problems: CairnError[] = [];
  readonly #verifier: ChkShareVerifier;

  constructor(cap: ChkIdentity & { key: AesKey | null }, reader: ShareReader, opts: DecodeOptions) {
    this.#cap = cap;
    this.#reader = reader;
    this.#opts = opts;
    this.#runner = opts.runner ?? localRunner(opts.backend, opts.codec);
    this.#verifier = new ChkShareVerifier(
      cap,
      (shnum, offset, length) => reader.read(shnum, offset, length),
      opts.backend,
    );
    // Primary shares (< k) first, since decoding them is a copy; otherwise the reader's order.
    const valid = [...new Set(reader.shnums)].filter((s) => Number.isInteger(s) && s >= 0 && s < cap.n);
    this.#candidates = [...valid.filter((s) => s < cap.k), ...valid.filter((s) => s >= cap.k)];
  }

  get decodeDepth(): number {
    return segmentsInFlight(this.#runner, 'decode');
  }

  get decodesInPlace(): boolean {
    return this.#runner.decodesInPlace === true;
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

  /** Find a share whose UEB matches the cap; then check the crypttext tree. */
  async open(): Promise<FileState> {
    for (const shnum of [...this.#order()]) {
      try {
        return await this.#verifier.openFile(shnum);
      } catch (err) {
        // Faults of the file itself, not of this share: no other share can do better.
        if (err instanceof ChkIntegrityError || err instanceof InputError) throw err;
        this.#fail(err, shnum);
      }
    }
    throw this.#notEnough(0);
  }

  /**
   * Fetch k verified blocks of segment `s`, decode, verify and decrypt; returns its plaintext.
   * With `into` (a runner that decodes in place): lays the verified ciphertext there instead,
   * undecrypted, and returns it.
   */
  async segment(file: FileState, s: number, into?: Uint8Array): Promise<Uint8Array> {
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
        key: into ? null : this.#cap.key,
        into,
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
        state = this.#verifier.activate(file, shnum);
        this.#active.set(shnum, state);
      }
      // Asked for at once: the layout says where the block is, so a share's first block
      // need not wait for its hash trees' round trip.
      const reading = this.#verifier.read(shnum, offset, len, `block ${s}`);
      reading.catch(() => {}); // the activation's failure is the one to report
      const { blockLeaves } = await state;
      return { block: await reading, leaf: blockLeaves[s] };
    } catch (err) {
      this.#fail(err, shnum);
      return undefined;
    }
  }
}
