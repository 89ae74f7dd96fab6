/**
 * A new version made range by range (encodeMutableStream, what the publisher writes call by
 * call) gives exactly the shares encodeMutable lays out whole (which mutable-tahoe checks
 * against Tahoe's bytes), for any cut of the shares: on segment boundaries or through
 * segments, into buffers holding old bytes, in either format.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeMutable, encodeMutableStream, type MutableEncodeInput } from '../../core/mutable/encode.ts';
import type { MutableFormat } from '../../core/mutable/prefix.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { fakeSigner, seededRandom, testKey, tools } from './mutable-harness.ts';

async function input(format: MutableFormat, size: number, k: number, n: number): Promise<MutableEncodeInput> {
  const key = await testKey();
  return {
    data: pattern(size, size + 3),
    format,
    k,
    n,
    seqnum: 4,
    privateKey: key.privateKey,
    publicKey: key.publicKey,
    signer: fakeSigner,
    random: seededRandom(size + 11),
  };
}

describe('a version made range by range', () => {
  it('equals the whole shares for any cut, into buffers holding old bytes', async () => {
    const t = await tools();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<MutableFormat>('sdmf', 'mdmf'),
        fc.constantFrom(0, 1, 5000, 131072 * 2 + 17, 131073 * 3),
        fc.constantFrom([1, 1], [3, 10], [2, 5]),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        fc.boolean(),
        async (format, size, [k, n], cuts, onBoundaries) => {
          const whole = await encodeMutable(await input(format, size, k, n), t);
          const stream = await encodeMutableStream(await input(format, size, k, n), t);
          expect(stream.shareLength).toBe(whole.shares[0].length);
          expectBytesEqual(stream.checkstring, whole.checkstring, 'checkstring');
          const points = onBoundaries
            ? cuts.map((c) => stream.segmentBoundaries[Math.floor(c * stream.segmentBoundaries.length)] ?? 0)
            : cuts.map((c) => Math.floor(c * stream.shareLength));
          const edges = [...new Set([0, ...points, stream.shareLength])].sort((a, b) => a - b);
          const made = Array.from({ length: n }, () => new Uint8Array(stream.shareLength));
          // Out of order, as targets that started again would ask.
          const ranges = edges.slice(1).map((end, i) => ({ offset: edges[i], length: end - edges[i] }));
          for (const r of [...ranges].reverse()) {
            const out = Array.from({ length: n }, () => new Uint8Array(r.length).fill(0xa5));
            await stream.fill(r.offset, out);
            out.forEach((o, sh) => {
              made[sh].set(o, r.offset);
            });
          }
          made.forEach((m, sh) => {
            expectBytesEqual(m, whole.shares[sh], `${format} ${size} bytes ${k}-of-${n}, share ${sh}`);
          });
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it('refuses ranges past the share and buffers of unequal lengths', async () => {
    const stream = await encodeMutableStream(await input('mdmf', 1000, 3, 10), await tools());
    const bufs = (len: number) => Array.from({ length: 10 }, () => new Uint8Array(len));
    await expect(stream.fill(stream.shareLength - 5, bufs(10))).rejects.toThrow(/past a share/);
    await expect(stream.fill(0, [...bufs(4).slice(1), new Uint8Array(5)])).rejects.toThrow(/one length/);
    await expect(stream.fill(0, bufs(4).slice(1))).rejects.toThrow(/needs 10 buffers/);
  });
});
