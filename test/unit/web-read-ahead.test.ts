/** readAhead must return exactly the inner source's bytes, however reads overlap. */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { bytesSource } from '../../core/immutable/source.ts';
import { readAhead } from '../../web/workers/read-ahead.ts';

test('overlapping reads in any order return the right bytes', async () => {
  const data = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 251);
  let innerReads = 0;
  const slow = {
    size: data.length,
    async read(offset: number, length: number) {
      innerReads++;
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      return bytesSource(data).read(offset, length);
    },
  };
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(data.length - 1), fc.nat(1500)), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 4096 }),
      async (reads, windowBytes) => {
        const src = readAhead(slow, windowBytes);
        const got = await Promise.all(
          reads.map(([o, l]) => {
            const len = Math.min(l, data.length - o);
            return src.read(o, len).then((b) => [o, len, b] as const);
          }),
        );
        for (const [o, len, b] of got) expect(b).toEqual(data.subarray(o, o + len));
      },
    ),
    { numRuns: 200 },
  );
  // Sequential segment reads are served from few windows.
  innerReads = 0;
  const src = readAhead(slow, 4096);
  await Promise.all(Array.from({ length: 39 }, (_, i) => src.read(i * 256, 256)));
  expect(innerReads).toBeLessThanOrEqual(4);
});

test('the window after the one being read is requested before a read needs it', async () => {
  const data = Uint8Array.from({ length: 10_000 }, (_, i) => i % 251);
  const starts: number[] = [];
  const src = readAhead(
    {
      size: data.length,
      async read(offset: number, length: number) {
        starts.push(offset);
        return data.slice(offset, offset + length);
      },
    },
    4096,
  );
  expect(await src.read(0, 256)).toEqual(data.subarray(0, 256));
  expect(starts).toEqual([0, 4096]);
  // Served from the prefetched window; the one after it is requested in turn.
  expect(await src.read(4096, 256)).toEqual(data.subarray(4096, 4352));
  expect(starts).toEqual([0, 4096, 8192]);
  expect(await src.read(8192, 1808)).toEqual(data.subarray(8192));
  expect(starts).toEqual([0, 4096, 8192]);
});

/**
 * An inner source that reads as a byte stream does: into the memory it is given, moving it
 * into the result (the given array is detached, as a BYOB read leaves it).
 */
function movingSource(data: Uint8Array, given: Array<ArrayBuffer | null>) {
  return {
    size: data.length,
    async read(offset: number, length: number, into?: Uint8Array) {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      if (!into || into.length < length) {
        given.push(null);
        return data.slice(offset, offset + length);
      }
      given.push(into.buffer as ArrayBuffer);
      const moved = structuredClone(into.buffer, { transfer: [into.buffer as ArrayBuffer] });
      const out = new Uint8Array(moved, into.byteOffset, length);
      out.set(data.subarray(offset, offset + length));
      return out;
    },
  };
}

test('window memory is lent to later window reads once no read needs it; bytes stay right', async () => {
  const data = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 31) % 253);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(data.length - 1), fc.nat(1500)), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 256, max: 4096 }),
      async (reads, windowBytes) => {
        const src = readAhead(movingSource(data, []), windowBytes);
        const got = await Promise.all(
          reads.map(([o, l]) => {
            const len = Math.min(l, data.length - o, windowBytes);
            return src.read(o, len).then((b) => [o, len, b.slice()] as const);
          }),
        );
        for (const [o, len, b] of got) expect(b).toEqual(data.subarray(o, o + len));
      },
    ),
    { numRuns: 200 },
  );
  // Segment after segment, a few in flight (as the encoder reads): after the first windows,
  // every window is read into memory an earlier window gave back.
  const given: Array<ArrayBuffer | null> = [];
  const src = readAhead(movingSource(data, given), 4096);
  const segment = 1024;
  const inflight: Promise<Uint8Array>[] = [];
  for (let o = 0; o < data.length; o += segment) {
    inflight.push(src.read(o, Math.min(segment, data.length - o)));
    if (inflight.length === 4) {
      const b = await inflight.shift()!;
      expect(b).toEqual(data.subarray(o - 3 * segment, o - 2 * segment));
    }
  }
  await Promise.all(inflight);
  const windows = Math.ceil(data.length / 4096);
  expect(given).toHaveLength(windows);
  expect(given.filter((g) => g !== null).length).toBeGreaterThanOrEqual(windows - 4);
});

test('a read given memory is copied there', async () => {
  const data = Uint8Array.from({ length: 10_000 }, (_, i) => i % 249);
  const src = readAhead(bytesSource(data), 4096, () => {
    throw new Error('no allocation expected');
  });
  const into = new Uint8Array(2000);
  const got = await src.read(100, 1500, into);
  expect(got.buffer).toBe(into.buffer);
  expect(got).toEqual(data.subarray(100, 1600));
});
