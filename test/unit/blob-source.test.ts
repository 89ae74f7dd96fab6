/** blobSource: reads that follow on come from one stream; any other read starts a new one. */
import { describe, expect, it } from 'vitest';
import { blobSource } from '../../core/immutable/source.ts';
import { equalBytes } from '../../core/primitives/bytes.ts';
import { pattern } from '../harness/bytes.ts';

/** A Blob whose streams are counted, optionally without a BYOB reader (as some runtimes have). */
class CountingBlob extends Blob {
  streams = 0;
  constructor(
    parts: BlobPart[],
    private readonly byteStreams = true,
  ) {
    super(parts);
  }
  override slice(start?: number, end?: number): Blob {
    const part = super.slice(start, end);
    if (this.byteStreams) {
      // Count the streams of the slices the source reads from.
      const stream = part.stream.bind(part);
      part.stream = () => {
        this.streams++;
        return stream();
      };
    } else {
      part.stream = () => {
        this.streams++;
        return new ReadableStream<Uint8Array<ArrayBuffer>>({
          start(c) {
            c.close();
          },
        });
      };
    }
    return part;
  }
}

describe('blobSource', () => {
  const data = pattern(1_000_003, 7);

  it('serves reads in order from one stream, and any range by starting another', async () => {
    const blob = new CountingBlob([data]);
    const src = blobSource(blob);
    expect(src.size).toBe(data.length);
    const at = [0, 65_536, 300_000, 999_999];
    for (let i = 0; i + 1 < at.length; i++) {
      expect(equalBytes(await src.read(at[i], at[i + 1] - at[i]), data.subarray(at[i], at[i + 1]))).toBe(
        true,
      );
    }
    expect(blob.streams).toBe(1);
    // Back to the start (a convergent upload's second pass), then a jump ahead.
    expect(equalBytes(await src.read(0, 10), data.subarray(0, 10))).toBe(true);
    expect(equalBytes(await src.read(10, 5), data.subarray(10, 15))).toBe(true);
    expect(equalBytes(await src.read(500_000, 4), data.subarray(500_000, 500_004))).toBe(true);
    expect(equalBytes(await src.read(999_999, 4), data.subarray(999_999, 1_000_003))).toBe(true);
    expect(blob.streams).toBe(4);
  });

  it('takes overlapping calls one after another, each its own bytes in its own buffer', async () => {
    const blob = new CountingBlob([data]);
    const src = blobSource(blob);
    const size = 131_072;
    const reads = [];
    for (let off = 0; off < data.length; off += size)
      reads.push(src.read(off, Math.min(size, data.length - off)));
    const got = await Promise.all(reads);
    got.forEach((g, i) => {
      expect(equalBytes(g, data.subarray(i * size, (i + 1) * size))).toBe(true);
      expect(g.byteOffset === 0 && g.byteLength === g.buffer.byteLength).toBe(true);
    });
    expect(blob.streams).toBe(1);
  });

  it('reads into the memory it is given, which moves into the result; too short or detached is as none', async () => {
    const src = blobSource(new CountingBlob([data]));
    const memory = new Uint8Array(200_000);
    const into = memory.subarray(1000, 151_000);
    const got = await src.read(0, 150_000, into);
    expect(equalBytes(got, data.subarray(0, 150_000))).toBe(true);
    // The same memory: the given array is detached (a BYOB read), the result sits where it was.
    expect(into.byteLength).toBe(0);
    expect(got.byteOffset).toBe(1000);
    expect(got.buffer.byteLength).toBe(200_000);
    // Detached now, then too short: fresh memory, right bytes.
    const again = await src.read(150_000, 1000, into);
    expect(equalBytes(again, data.subarray(150_000, 151_000))).toBe(true);
    const short = await src.read(151_000, 1000, new Uint8Array(10));
    expect(equalBytes(short, data.subarray(151_000, 152_000))).toBe(true);
    expect(short.byteLength).toBe(short.buffer.byteLength);
  });

  it('says the file changed when it holds fewer bytes than its size, and reads again after', async () => {
    const blob = new Blob([data]);
    const src = blobSource(blob);
    const short = { size: data.length + 10, slice: (s?: number, e?: number) => blob.slice(s, e) } as Blob;
    const lying = blobSource(short);
    await expect(lying.read(data.length - 5, 15)).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
    expect(equalBytes(await lying.read(0, 8), data.subarray(0, 8))).toBe(true);
    expect(equalBytes(await src.read(7, 3), data.subarray(7, 10))).toBe(true);
  });

  it('reads slices where the blob has no byte stream', async () => {
    const blob = new CountingBlob([data], false);
    const src = blobSource(blob);
    expect(equalBytes(await src.read(0, 1000), data.subarray(0, 1000))).toBe(true);
    expect(equalBytes(await src.read(1000, 1000), data.subarray(1000, 2000))).toBe(true);
    expect(equalBytes(await src.read(5, 5), data.subarray(5, 10))).toBe(true);
    await expect(src.read(data.length - 2, 4)).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
  });
});
