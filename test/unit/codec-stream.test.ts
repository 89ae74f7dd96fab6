/**
 * The streaming form: any chunking of the input gives the blocks of coding each
 * (Tahoe-padded) segment directly, and decodeStream from any k shares per segment gives
 * the input back.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Codec, decodeStream, encodeStream, loadCodec } from '../../core/codec/index.ts';
import { concatBytes, toHex } from '../../core/primitives/bytes.ts';
import './codec-build.ts';

let codec: Codec;
beforeAll(async () => {
  codec = await loadCodec();
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function chunked(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of [...points, data.length]) {
    out.push(data.subarray(at, p));
    at = p;
  }
  return out;
}

describe('encodeStream / decodeStream', () => {
  it('equals per-segment encode for any chunking, and decodes back from any k shares', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          k: fc.integer({ min: 1, max: 12 }),
          extra: fc.integer({ min: 0, max: 8 }),
          blockLen: fc.integer({ min: 1, max: 40 }),
          data: fc.uint8Array({ minLength: 0, maxLength: 1500 }),
          cuts: fc.array(fc.nat(), { maxLength: 6 }),
          pickSeed: fc.nat(),
        }),
        async ({ k, extra, blockLen, data, cuts, pickSeed }) => {
          const n = k + extra;
          const segmentSize = k * blockLen;
          const segs = await collect(encodeStream(codec, { k, n, segmentSize }, chunked(data, cuts)));
          expect(segs).toHaveLength(Math.ceil(data.length / segmentSize));
          segs.forEach((blocks, s) => {
            const piece = data.subarray(s * segmentSize, (s + 1) * segmentSize);
            const padded = new Uint8Array(Math.ceil(piece.length / k) * k);
            padded.set(piece);
            const len = padded.length / k;
            const direct = codec.encode(
              k,
              n,
              Array.from({ length: k }, (_, j) => padded.subarray(j * len, (j + 1) * len)),
            );
            expect(blocks.map(toHex)).toEqual(direct.map(toHex));
          });
          const shares = segs.map((blocks, s) => {
            const nums = Array.from({ length: n }, (_, i) => i)
              .sort((a, b) => ((a * 7919 + pickSeed + s) % 101) - ((b * 7919 + pickSeed + s) % 101))
              .slice(0, k);
            return { blocks: nums.map((i) => blocks[i]), shareNums: nums };
          });
          const back = await collect(decodeStream(codec, { k, n, size: data.length }, shares));
          expect(toHex(concatBytes(...back))).toBe(toHex(data));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects a segment size that is not a multiple of k', async () => {
    await expect(
      collect(encodeStream(codec, { k: 3, n: 10, segmentSize: 100 }, [new Uint8Array(5)])),
    ).rejects.toMatchObject({ code: 'BAD_PARAMS' });
  });
});
