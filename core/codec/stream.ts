/**
 * The streaming form of the codec: bytes in, one array of N blocks per segment out, and
 * back. Segmentation follows Tahoe (reference/tahoe-formats.md §2.6): full segments of
 * `segmentSize` bytes (a multiple of k), then a tail zero-padded to a multiple of k.
 */
import type { Codec } from './codec.ts';
import { checkParams } from './codec.ts';
import { CodecError } from './errors.ts';

export interface StreamParams {
  readonly k: number;
  readonly n: number;
  /** Bytes per segment; a positive multiple of k. */
  readonly segmentSize: number;
}

type Chunks = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Yields the N blocks (fresh arrays) of each segment of `source`, in order. Chunks may
 * have any sizes; an empty source yields nothing.
 */
export async function* encodeStream(
  codec: Codec,
  params: StreamParams,
  source: Chunks,
): AsyncGenerator<Uint8Array[]> {
  const { k, n, segmentSize } = params;
  checkParams(k, n);
  if (!Number.isInteger(segmentSize) || segmentSize < k || segmentSize % k !== 0) {
    throw new CodecError('BAD_PARAMS', `segment size ${segmentSize} is not a positive multiple of k=${k}`);
  }
  const seg = new Uint8Array(segmentSize);
  const blockLen = segmentSize / k;
  const full = Array.from({ length: k }, (_, j) => seg.subarray(j * blockLen, (j + 1) * blockLen));
  let fill = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(chunk.length - at, segmentSize - fill);
      seg.set(chunk.subarray(at, at + take), fill);
      fill += take;
      at += take;
      if (fill === segmentSize) {
        yield codec.encode(k, n, full); // encode copies, so `seg` can be refilled
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    const padded = Math.ceil(fill / k) * k;
    seg.fill(0, fill, padded);
    const len = padded / k;
    yield codec.encode(
      k,
      n,
      Array.from({ length: k }, (_, j) => seg.subarray(j * len, (j + 1) * len)),
    );
  }
}

export interface SegmentShares {
  /** Exactly k blocks of one segment. */
  readonly blocks: Uint8Array[];
  /** Their share numbers, in the same order. */
  readonly shareNums: number[];
}

/**
 * Yields each segment's bytes (its k data blocks joined). With `size`, the output stops
 * after `size` bytes, dropping the tail's padding.
 */
export async function* decodeStream(
  codec: Codec,
  params: { k: number; n: number; size?: number },
  source: AsyncIterable<SegmentShares> | Iterable<SegmentShares>,
): AsyncGenerator<Uint8Array> {
  const { k, n, size } = params;
  checkParams(k, n);
  let left = size ?? Number.POSITIVE_INFINITY;
  for await (const { blocks, shareNums } of source) {
    if (left <= 0) break;
    const data = codec.decode(k, n, blocks, shareNums);
    const len = data[0].length;
    const seg = new Uint8Array(len * k);
    data.forEach((b, j) => {
      seg.set(b, j * len);
    });
    const out = seg.length > left ? seg.subarray(0, left) : seg;
    left -= out.length;
    yield out;
  }
}
