/**
 * CHK encoder (reference/tahoe-formats.md §2.11): plaintext stream in, share writes out.
 *
 * Per segment: AES-128-CTR, crypttext-segment hash (unpadded), zero-pad the tail, split into
 * k pieces, erasure-code to N blocks, hash every block. After the last segment: crypttext
 * tree, block trees, share tree, UEB, cap, and each share's trailer. Memory holds `depth`
 * segments in flight (plus those the consumer keeps) and 32 bytes per block; the output is
 * a sequence of (shnum, offset, bytes) writes that can go to storage servers in any order.
 */
import { buildHashTree, MERKLE_INTERNAL_PREFIX } from '../hashtree/tree.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { TAG_CRYPTTEXT } from '../primitives/tags.ts';
import { tagPrefix } from '../primitives/tagged-hash.ts';
import type { ChkCap, LitCap } from '../caps/immutable.ts';
import { type AesKey, asShareNum, type ShareNum } from '../types.ts';
import { InputError } from '../errors.ts';
import type { Codec } from '../codec/index.ts';
import { chainOrder, encodeChain, encodeHeader, uebLengthFieldSize, blockOffset } from './layout.ts';
import type { ChkParams } from './params.ts';
import { segmentSpan } from './params.ts';
import { planChk } from './plan.ts';
import {
  ciphertextPieces,
  type EncodedSegment,
  localRunner,
  type SegmentRunner,
  segmentsInFlight,
} from './segment.ts';
import type { PlaintextSource } from './source.ts';
import { PackedTreeBuilder } from './tree-builder.ts';
import { serializeUeb, uebHash } from './ueb.ts';

export interface ShareWrite {
  readonly shnum: ShareNum;
  /** Byte offset in the share (share data, no server container header). */
  readonly offset: number;
  /**
   * May be a view into a larger buffer, or the same bytes as other writes (a trailer's zeros):
   * send or copy them; never change them or transfer their buffer.
   */
  readonly data: Uint8Array;
}

export type ChkStep =
  /** The share headers (known before any data). */
  | { readonly kind: 'header'; readonly writes: ShareWrite[] }
  /**
   * Segment `segment`'s block for every share. `release()`, if the consumer calls it once it
   * is done with these writes' bytes (never to touch them again), lets their memory be reused
   * for a later segment; not calling it is fine.
   */
  | {
      readonly kind: 'segment';
      readonly segment: number;
      readonly writes: ShareWrite[];
      readonly release: () => void;
    }
  /** Hash trees, chain and UEB for every share (none for LIT), and the cap. */
  | { readonly kind: 'done'; readonly writes: ShareWrite[]; readonly cap: ChkCap | LitCap };

/** A re-encoding's last step: like 'done', but with the UEB hash instead of a cap (no key). */
export type ReencodeStep =
  | Exclude<ChkStep, { kind: 'done' }>
  | { readonly kind: 'done'; readonly writes: ShareWrite[]; readonly uebHash: Uint8Array };

export interface EncodeTools {
  readonly backend: CryptoBackend;
  readonly codec: Codec;
  /** Where per-segment work runs (default: this thread, with backend and codec). */
  readonly runner?: SegmentRunner;
  /** Segments in flight at once (default: the runner's encodeDepth, else twice its parallelism, at least 2). */
  readonly depth?: number;
}

const CRYPTTEXT_PREFIX = tagPrefix(TAG_CRYPTTEXT);

/**
 * Encode `source` under `key` (from convergentKey() or randomKey()). Files of up to 55
 * bytes yield a single 'done' step with a LIT cap. Reads each segment exactly once.
 */
export async function* encodeChk(
  source: PlaintextSource,
  params: ChkParams,
  key: AesKey,
  tools: EncodeTools,
): AsyncGenerator<ChkStep> {
  const plan = planChk(source.size, params);
  if (plan.kind === 'lit') {
    const data = source.size ? await source.read(0, source.size) : new Uint8Array(0);
    yield { kind: 'done', writes: [], cap: { kind: 'lit', data: data.slice() } };
    return;
  }
  if (key.length !== 16) throw new InputError('AES-128 key must be 16 bytes', 'BAD_KEY');
  for await (const step of encodeSteps(source, params, key, tools)) {
    if (step.kind !== 'done') yield step;
    else {
      const cap: ChkCap = { kind: 'chk', key, uebHash: step.uebHash, k: plan.k, n: plan.n, size: plan.size };
      yield { kind: 'done', writes: step.writes, cap };
    }
  }
}

/**
 * The shares of a file from its ciphertext, for a repairer holding only a verify cap: the
 * same steps as encodeChk without the encryption. With the file's own segment size
 * (params.maxSegmentSize = the UEB's), the shares and the UEB come out byte for byte as the
 * uploader made them, so the UEB hash it ends with must equal the cap's.
 */
export function reencodeChk(
  ciphertext: PlaintextSource,
  params: ChkParams,
  tools: EncodeTools,
): AsyncGenerator<ReencodeStep> {
  if (planChk(ciphertext.size, params).kind === 'lit')
    throw new InputError('a literal file has no shares to re-encode');
  return encodeSteps(ciphertext, params, null, tools);
}

async function* encodeSteps(
  source: PlaintextSource,
  params: ChkParams,
  key: AesKey | null,
  tools: EncodeTools,
): AsyncGenerator<ReencodeStep> {
  const plan = planChk(source.size, params);
  if (plan.kind === 'lit') throw new InputError('a literal file has no shares');
  const { n, numSegments, layout } = plan;
  const shnums = Array.from({ length: n }, (_, i) => asShareNum(i));

  const header = encodeHeader(layout);
  yield { kind: 'header', writes: shnums.map((shnum) => ({ shnum, offset: 0, data: header })) };

  const fileHasher = await tools.backend.createHasher(CRYPTTEXT_PREFIX, plan.size);
  // The trees, built as leaves arrive: 64 bytes per segment per share is all that grows.
  const pair = await tools.backend.createPairHasher(MERKLE_INTERNAL_PREFIX);
  const crypttextBuilder = new PackedTreeBuilder(numSegments, pair);
  const blockBuilders = shnums.map(() => new PackedTreeBuilder(numSegments, pair));
  const runner = tools.runner ?? localRunner(tools.backend, tools.codec);
  const depth = Math.max(1, tools.depth ?? segmentsInFlight(runner, 'encode'));
  // Plaintext buffers of segments already encoded, read into again: a fresh one per segment
  // is garbage the size of the file (and a collection every 64 MiB in Node). Not a buffer a
  // worker runner took (detached). (With no key the buffer is the ciphertext, but the
  // segment's result holds a copy in its blocks, so it is free once encoded too.)
  const spare: Uint8Array[] = [];
  // Once a runner has taken one (a worker's, which lends read buffers of its own to the
  // source), none are offered: a fresh one per segment would be garbage.
  let runnerTakes = false;
  const start = async (s: number) => {
    const span = segmentSpan(plan, s);
    // (One segment: nothing to reuse, and a source holding the bytes would not use it.)
    const into =
      numSegments > 1 && !runnerTakes ? (spare.pop() ?? new Uint8Array(plan.segmentSize)) : undefined;
    const plaintext = await source.read(span.start, span.length, into);
    const seg = await runner.encode({ k: plan.k, n, key, offset: span.start, plaintext });
    if (into && into.byteLength === 0) runnerTakes = true;
    if (into && into.byteLength > 0) spare.push(into);
    return seg;
  };

  // Up to `depth` segments are read and encoded ahead; results are taken in order.
  const inflight: Promise<EncodedSegment>[] = [];
  let started = 0;
  for (let s = 0; s < numSegments; s++) {
    while (started < numSegments && inflight.length < depth) {
      const p = start(started++);
      p.catch(() => {}); // rejections surface when this segment's turn comes
      inflight.push(p);
    }
    const seg = await inflight.shift()!;
    for (const piece of ciphertextPieces(seg, plan.k)) fileHasher.update(piece);
    crypttextBuilder.add(seg.crypttextLeaf);
    const offset = blockOffset(layout, s);
    const writes = shnums.map((shnum) => {
      blockBuilders[shnum].add(seg.blockHashes[shnum]);
      return { shnum, offset, data: seg.blocks[shnum] };
    });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      runner.release?.(seg);
    };
    yield { kind: 'segment', segment: s, writes, release };
  }

  const crypttextTree = crypttextBuilder.finish();
  const blockTrees = blockBuilders.map((b) => b.finish());
  const shareTree = buildHashTree(blockTrees.map((t) => t.subarray(0, 32)));
  const ueb = serializeUeb(plan, {
    crypttextHash: await fileHasher.digest(),
    crypttextRootHash: crypttextTree.slice(0, 32),
    shareRootHash: shareTree[0],
  });

  // Each share's trailer, from the unused plaintext tree (zeros) to the end of the UEB, in
  // the pieces that exist already (the zeros and the crypttext tree shared by every share):
  // one buffer per share holding all of it came to 15 MiB of fresh memory at 1 GiB.
  const treeBytes = layout.crypttextTreeOffset - layout.plaintextTreeOffset;
  const field = uebLengthFieldSize(layout);
  const zeros = new Uint8Array(treeBytes);
  const writes = shnums.flatMap((shnum) => {
    const chain = encodeChain(chainOrder(n, shnum), shareTree);
    const tail = new Uint8Array(chain.length + field + ueb.length);
    tail.set(chain);
    writeUint(tail.subarray(chain.length, chain.length + field), ueb.length);
    tail.set(ueb, chain.length + field);
    const at = layout.plaintextTreeOffset;
    return [
      { shnum, offset: at, data: zeros },
      { shnum, offset: at + treeBytes, data: crypttextTree },
      { shnum, offset: at + 2 * treeBytes, data: blockTrees[shnum] },
      { shnum, offset: at + 3 * treeBytes, data: tail },
    ];
  });
  yield { kind: 'done', writes, uebHash: uebHash(ueb) };
}

function writeUint(out: Uint8Array, value: number): void {
  let v = value;
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
}
