/**
 * CHK encode/decode in memory: real encoder, real wasm codec, real decoder. Shares are
 * dropped, truncated and bit-flipped; the decoder must return the exact plaintext or a
 * typed error, and name the share at fault.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pattern } from '../harness/bytes.ts';
import { type ChkCap, formatCap, parseCap } from '../../core/caps/immutable.ts';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import { equalBytes, toHex } from '../../core/primitives/bytes.ts';
import { tagPrefix } from '../../core/primitives/tagged-hash.ts';
import { TAG_BLOCK } from '../../core/primitives/tags.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { webCrypto, webCryptoBackend } from '../../core/primitives/crypto-web.ts';
import { convergentKey, randomKey } from '../../core/immutable/convergence.ts';
import { type DecodeOptions, decodeChk, readChk, type ShareReader } from '../../core/immutable/decoder.ts';
import {
  ChkIntegrityError,
  NotEnoughSharesError,
  type ShareCorruptError,
} from '../../core/immutable/errors.ts';
import {
  chainOrder,
  checkHeader,
  encodeHeader,
  readTailOffsets,
  shareLayout,
} from '../../core/immutable/layout.ts';
import { encodeChk } from '../../core/immutable/encoder.ts';
import { encodeToShares, memoryShareReader } from '../../core/immutable/memory.ts';
import { type ChkParams, segmentGeometry } from '../../core/immutable/params.ts';
import { planChk } from '../../core/immutable/plan.ts';
import { blobSource, bytesSource, sequentialSource } from '../../core/immutable/source.ts';
import { fileSource } from '../../core/immutable/source-node.ts';
import { cleanup, tempDir } from '../harness/grid.ts';
import { decodeSegment, encodeSegment, type SegmentRunner } from '../../core/immutable/segment.ts';
import { parseUeb, serializeUeb, uebHash, uebLength } from '../../core/immutable/ueb.ts';
import { buildHashTree } from '../../core/hashtree/tree.ts';
import { concatBytes } from '../../core/primitives/bytes.ts';
import { utf8 } from '../../core/primitives/bytes.ts';

/** A multiple of k, so it is the real segment size of files larger than it. */
const SEG = 4098;
const P: ChkParams = { k: 3, happy: 7, n: 10, maxSegmentSize: SEG };
const SECRET = utf8('test convergence');
let codec: Codec;
beforeAll(async () => {
  codec = await loadCodec();
});

async function encode(data: Uint8Array, params = P) {
  const source = bytesSource(data);
  const key = await convergentKey(source, params, SECRET, nodeCrypto);
  return encodeToShares(source, params, key, { backend: nodeCrypto, codec });
}

const opts = (extra: Partial<DecodeOptions> = {}): DecodeOptions => ({
  backend: nodeCrypto,
  codec,
  ...extra,
});

function layoutOf(size: number) {
  const plan = planChk(size, P);
  if (plan.kind !== 'chk') throw new Error('expected a CHK plan');
  return plan.layout;
}

function sharesMap(shares: Uint8Array[], keep: (i: number) => boolean = () => true) {
  return new Map(shares.map((s, i) => [i, s] as const).filter(([i]) => keep(i)));
}

/** Every k-subset of 0..n-1. */
function* subsets(n: number, k: number, start = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === k) {
    yield acc;
    return;
  }
  for (let i = start; i < n; i++) yield* subsets(n, k, i + 1, [...acc, i]);
}

afterAll(() => cleanup());

describe('UEB length', () => {
  it('is the length of the serialized UEB, for sizes whose numbers have different digit counts', () => {
    const zero = new Uint8Array(32);
    const hashes = { crypttextHash: zero, crypttextRootHash: zero, shareRootHash: zero };
    for (const size of [56, 999, 1000, 4098, 65_536, 1_000_001, 123_456_789_012]) {
      for (const [k, n, seg] of [
        [1, 1, 131_072],
        [3, 10, 131_072],
        [25, 100, 1_000_000],
      ]) {
        const plan = planChk(size, { k, happy: 1, n, maxSegmentSize: seg });
        if (plan.kind !== 'chk') continue;
        expect(uebLength(plan)).toBe(serializeUeb(plan, hashes).length);
      }
    }
  });
});

describe('CHK round trips', () => {
  it.each([0, 1, 55])('%i bytes become a LIT cap holding the data', async (size) => {
    const data = pattern(size);
    const { cap, shares } = await encode(data);
    expect(cap.kind).toBe('lit');
    expect(shares).toEqual([]);
    const back = parseCap(formatCap(cap));
    expect(back.kind === 'lit' && toHex(back.data)).toBe(toHex(data));
  });

  it.each([56, SEG - 1, SEG, SEG + 1, 5 * SEG + 123, 8 * SEG])(
    '%i bytes, from every set of k shares',
    async (size) => {
      const data = pattern(size, size);
      const { cap, shares } = await encode(data);
      expect(cap.kind).toBe('chk');
      const plan = planChk(size, P);
      for (const s of shares) expect(s.length).toBe(plan.kind === 'chk' && plan.shareSize);
      const chk = cap as ChkCap;
      const sets =
        size === 5 * SEG + 123
          ? [...subsets(10, 3)]
          : [
              [0, 1, 2],
              [7, 8, 9],
              [0, 5, 9],
              [2, 4, 6],
            ];
      for (const keep of sets) {
        const got = await readChk(chk, memoryShareReader(sharesMap(shares, (i) => keep.includes(i))), opts());
        expect(toHex(got)).toBe(toHex(data));
      }
    },
  );

  it('same plaintext and secret give the same cap and shares; a random key differs and still decodes', async () => {
    const data = pattern(3 * SEG + 7);
    const a = await encode(data);
    const b = await encode(data);
    expect(formatCap(a.cap)).toBe(formatCap(b.cap));
    expect(a.shares.map(toHex)).toEqual(b.shares.map(toHex));
    const r = await encodeToShares(bytesSource(data), P, randomKey(), { backend: nodeCrypto, codec });
    expect(formatCap(r.cap)).not.toBe(formatCap(a.cap));
    expect(toHex(await readChk(r.cap as ChkCap, memoryShareReader(sharesMap(r.shares)), opts()))).toBe(
      toHex(data),
    );
  });

  it('a Blob source and the WebCrypto backend give the same cap and shares', async () => {
    const data = pattern(2 * SEG + 99, 5);
    const a = await encode(data);
    const source = blobSource(new Blob([data]));
    for (const backend of [webCrypto, webCryptoBackend({ oneShotHashLimit: 1 << 20 })]) {
      const key = await convergentKey(source, P, SECRET, backend);
      const b = await encodeToShares(source, P, key, { backend, codec });
      expect(formatCap(b.cap)).toBe(formatCap(a.cap));
      expect(b.shares.map(toHex)).toEqual(a.shares.map(toHex));
    }
    const back = await readChk(
      a.cap as ChkCap,
      memoryShareReader(sharesMap(a.shares)),
      opts({ backend: webCrypto }),
    );
    expect(toHex(back)).toBe(toHex(data));
  });

  it('a one-pass stream source (Node Readable) gives the same shares as random access', async () => {
    const data = pattern(5 * SEG + 1, 13);
    const key = randomKey();
    const tools = { backend: nodeCrypto, codec };
    const a = await encodeToShares(bytesSource(data), P, key, tools);
    const chunks = Readable.from([data.subarray(0, 1000), data.subarray(1000, 9000), data.subarray(9000)]);
    const b = await encodeToShares(sequentialSource(chunks, data.length), P, key, tools);
    expect(formatCap(b.cap)).toBe(formatCap(a.cap));
    expect(b.shares.map(toHex)).toEqual(a.shares.map(toHex));
    const short = sequentialSource(Readable.from([data.subarray(0, 100)]), data.length);
    await expect(encodeToShares(short, P, key, tools)).rejects.toThrow(/ended before/);
  });

  it('a file on disk, read into reused buffers, gives the same key, cap and shares as its bytes', async () => {
    // Past the key pass's 1 MiB reads, and many segments: buffers are reused across both.
    const data = pattern(1024 * 1024 + 5 * SEG + 17, 21);
    const file = path.join(tempDir('cairn-source-'), 'f.bin');
    await fs.writeFile(file, data);
    const source = await fileSource(file);
    try {
      const a = await encode(data);
      const tools = { backend: nodeCrypto, codec };
      const b = await encodeToShares(source, P, await convergentKey(source, P, SECRET, nodeCrypto), tools);
      expect(formatCap(b.cap)).toBe(formatCap(a.cap));
      expect(b.shares.map(toHex)).toEqual(a.shares.map(toHex));
      // Given memory, the source reads into it; without, into a buffer of its own.
      const into = new Uint8Array(100);
      const got = await source.read(1000, 50, into);
      expect(got.buffer).toBe(into.buffer);
      expect(toHex(got)).toBe(toHex(data.subarray(1000, 1050)));
      const own = await source.read(1000, 50);
      expect(own.buffer).not.toBe(into.buffer);
      expect(toHex(own)).toBe(toHex(got));
    } finally {
      await source.close();
    }
  });

  it('(1,1) and (101,256) parameters round-trip', async () => {
    for (const params of [
      { k: 1, happy: 1, n: 1, maxSegmentSize: SEG },
      { k: 101, happy: 1, n: 256, maxSegmentSize: 131072 },
    ]) {
      const data = pattern(20_000, 11);
      const { cap, shares } = await encode(data, params);
      const keep = sharesMap(shares, (i) => i >= params.n - params.k);
      expect(toHex(await readChk(cap as ChkCap, memoryShareReader(keep), opts()))).toBe(toHex(data));
    }
  });
});

describe('byte ranges', () => {
  it('return exactly the range and read only the blocks of overlapping segments', async () => {
    const size = 6 * SEG + 500;
    const data = pattern(size, 3);
    const { cap, shares } = await encode(data);
    const layout = layoutOf(size);
    const ranges = [
      [0, 1],
      [0, SEG],
      [SEG - 1, 2],
      [SEG, SEG],
      [2 * SEG + 17, 3 * SEG],
      [size - 1, 1],
      [size - 600, 600],
      [123, 0],
      [size - 5, 1000],
      // Across pieces of several segments decrypted together (the first alone, then 4).
      [17, size - 40],
      [SEG + 3, 5 * SEG],
    ];
    for (const [offset, length] of ranges) {
      const blockReads: number[] = [];
      const inner = memoryShareReader(sharesMap(shares));
      const reader: ShareReader = {
        shnums: inner.shnums,
        read(shnum, off, len) {
          if (off >= layout.dataOffset && off < layout.plaintextTreeOffset) {
            blockReads.push(Math.floor((off - layout.dataOffset) / layout.blockSize));
          }
          return inner.read(shnum, off, len);
        },
      };
      const got = await readChk(cap as ChkCap, reader, opts({ offset, length }));
      expect(toHex(got)).toBe(toHex(data.subarray(offset, offset + length)));
      const first = Math.floor(offset / SEG);
      const last = Math.floor((Math.min(size, offset + length) - 1) / SEG);
      for (const s of blockReads) expect(s >= first && s <= last).toBe(true);
      expect(new Set(blockReads).size).toBe(length === 0 ? 0 : last - first + 1);
    }
  });

  it('rejects an offset past the end', async () => {
    const { cap, shares } = await encode(pattern(100));
    await expect(
      readChk(cap as ChkCap, memoryShareReader(sharesMap(shares)), opts({ offset: 101 })),
    ).rejects.toThrow(/outside/);
  });
});

describe('damaged shares', () => {
  /** Decode with share 0 damaged (it is read first), all other shares intact. */
  async function decodeWithShare0(cap: ChkCap, shares: Uint8Array[], damaged: Uint8Array) {
    const reported: ShareCorruptError[] = [];
    const map = sharesMap(shares);
    map.set(0, damaged);
    const got = await readChk(
      cap,
      memoryShareReader(map),
      opts({ onShareError: (e) => reported.push(e as ShareCorruptError) }),
    );
    return { got, reported };
  }

  it.each([SEG - 1, SEG, SEG + 1, 4 * SEG + 77])(
    '%i bytes: a flipped bit anywhere in share 0 is detected (or lies in an unused field)',
    async (size) => {
      const data = pattern(size, 9);
      const { cap, shares } = await encode(data);
      const layout = layoutOf(size);
      const share = shares[0];
      // Every byte position in small shares; every 7th in bigger ones, plus every boundary.
      const positions = new Set<number>();
      const step = share.length > 3000 ? 7 : 1;
      for (let i = 0; i < share.length; i += step) positions.add(i);
      for (const b of Object.values(layout)) if (typeof b === 'number' && b < share.length) positions.add(b);
      positions.add(share.length - 1);
      for (const pos of positions) {
        const damaged = share.slice();
        damaged[pos] ^= 1 << (pos % 8);
        const { got, reported } = await decodeWithShare0(cap as ChkCap, shares, damaged);
        expect(toHex(got)).toBe(toHex(data));
        const unused = pos >= layout.plaintextTreeOffset && pos < layout.crypttextTreeOffset;
        if (unused) {
          expect(reported).toEqual([]);
        } else {
          expect(reported.map((e) => [e.code, e.shnum])).toEqual([['SHARE_CORRUPT', 0]]);
        }
      }
    },
  );

  it("hashes a segment's blocks only when it fails its own hash or holds padding", async () => {
    // Three full segments (4098 = 3 x 1366: no padding) and a tail of 100 bytes (3 x 34 = 102).
    const size = 3 * SEG + 100;
    const data = pattern(size, 23);
    const { cap, shares } = await encode(data);
    const blockHashCalls = () => {
      const calls: number[] = [];
      const backend = {
        ...nodeCrypto,
        taggedHashes: (prefix: Uint8Array, blocks: readonly Uint8Array[]) => {
          // Blocks only (a segment laid beside others is hashed this way too, with its own tag).
          if (equalBytes(prefix, tagPrefix(TAG_BLOCK))) calls.push(blocks.length);
          return nodeCrypto.taggedHashes(prefix, blocks);
        },
      };
      return { calls, backend };
    };
    // Healthy shares: the tail segment's blocks alone are hashed.
    const healthy = blockHashCalls();
    const got = await readChk(
      cap as ChkCap,
      memoryShareReader(sharesMap(shares)),
      opts({ backend: healthy.backend }),
    );
    expect(toHex(got)).toBe(toHex(data));
    expect(healthy.calls).toEqual([3]);
    // A block of segment 1 damaged: that segment's hash fails, its blocks are hashed, the bad
    // one is found and its share replaced.
    const l = layoutOf(size);
    const damaged = shares[1].slice();
    damaged[l.dataOffset + 1366 + 5] ^= 0x01;
    const map = sharesMap(shares);
    map.set(1, damaged);
    const hurt = blockHashCalls();
    const reported: number[] = [];
    const again = await readChk(
      cap as ChkCap,
      memoryShareReader(map),
      opts({ backend: hurt.backend, onShareError: (e) => reported.push(e.shnum) }),
    );
    expect(toHex(again)).toBe(toHex(data));
    expect(reported).toEqual([1]);
    expect(hurt.calls).toEqual([3, 3]);
  });

  it('a flipped bit in any share, in any field the decoder uses, is detected and that share replaced', async () => {
    const size = 3 * SEG + 100;
    const data = pattern(size, 21);
    const { cap, shares } = await encode(data);
    const l = layoutOf(size);
    const fields = [
      0x0c, // header: data offset
      l.dataOffset + 7, // first block
      l.plaintextTreeOffset - 1, // last byte of the tail block
      l.blockHashesOffset + 40, // block hash tree
      l.shareHashesOffset + 1, // chain: node index
      l.shareHashesOffset + 20, // chain: hash
      l.uebOffset + 2, // UEB length
      shares[0].length - 3, // UEB
    ];
    for (let sh = 0; sh < 10; sh++) {
      for (const pos of fields) {
        const damaged = shares[sh].slice();
        damaged[pos] ^= 0x20;
        // Primary shares are used first: without them, a parity share offered first is used.
        const map = sharesMap(shares, (i) => sh < 3 || i >= 3);
        map.set(sh, damaged);
        const inner = memoryShareReader(map);
        const reported: number[] = [];
        const reader: ShareReader = {
          shnums: [sh, ...inner.shnums.filter((x) => x !== sh)],
          read: inner.read,
        };
        const got = await readChk(
          cap as ChkCap,
          reader,
          opts({ onShareError: (e) => reported.push(e.shnum) }),
        );
        expect(toHex(got)).toBe(toHex(data));
        expect(reported).toEqual([sh]);
      }
    }
  });

  it('a truncated share is detected and replaced', async () => {
    const size = 3 * SEG + 5;
    const data = pattern(size, 2);
    const { cap, shares } = await encode(data);
    for (const cut of [0, 10, 40, 200, shares[0].length - 300, shares[0].length - 1]) {
      const { got, reported } = await decodeWithShare0(cap as ChkCap, shares, shares[0].subarray(0, cut));
      expect(toHex(got)).toBe(toHex(data));
      expect(reported.map((e) => e.shnum)).toEqual([0]);
      expect(reported[0].message).toMatch(/share 0/);
    }
  });

  it('with only k shares and one corrupt, reading fails with a typed error, not data', async () => {
    const data = pattern(2 * SEG, 4);
    const { cap, shares } = await encode(data);
    const map = sharesMap(shares, (i) => i === 1 || i === 4 || i === 8);
    const bad = shares[4].slice();
    bad[layoutOf(data.length).dataOffset + 5] ^= 0x10;
    map.set(4, bad);
    const err = await readChk(cap as ChkCap, memoryShareReader(map), opts()).catch((e) => e);
    expect(err).toBeInstanceOf(NotEnoughSharesError);
    expect(err.message).toMatch(/need 3 good shares.*failed: 4/);
  });

  it('a share from another file fails the UEB check and is replaced', async () => {
    const a = await encode(pattern(SEG * 2, 1));
    const b = await encode(pattern(SEG * 2, 2));
    const reported: number[] = [];
    const map = sharesMap(a.shares, (i) => i > 0);
    map.set(0, b.shares[0]);
    const got = await readChk(
      a.cap as ChkCap,
      memoryShareReader(map),
      opts({ onShareError: (e) => reported.push(e.shnum) }),
    );
    expect(toHex(got)).toBe(toHex(pattern(SEG * 2, 1)));
    expect(reported).toEqual([0]);
  });

  it('a reader that throws makes the share unavailable, and another is used', async () => {
    const data = pattern(SEG + 3, 6);
    const { cap, shares } = await encode(data);
    const inner = memoryShareReader(sharesMap(shares));
    const codes: string[] = [];
    const reader: ShareReader = {
      shnums: inner.shnums,
      read: (shnum, off, len) =>
        shnum === 1 ? Promise.reject(new Error('connection lost')) : inner.read(shnum, off, len),
    };
    const got = await readChk(
      cap as ChkCap,
      reader,
      opts({ onShareError: (e) => codes.push(`${e.code}:${e.shnum}`) }),
    );
    expect(toHex(got)).toBe(toHex(data));
    expect(codes).toEqual(['SHARE_UNAVAILABLE:1']);
  });
});

describe('round trips', () => {
  it("a download's first segment takes three waves of reads: header, tail, the other shares' trees with every first block", async () => {
    const size = 6 * SEG + 500;
    const data = pattern(size, 5);
    const { cap, shares } = await encode(data);
    const inner = memoryShareReader(sharesMap(shares, (i) => i < 3));
    // Reads wait until the test lets a whole wave through: what the decoder asks for before
    // then rides in the same wave, as it would on one round trip to the servers.
    let waiting: (() => void)[] = [];
    const reads = new Map<number, number>();
    const reader: ShareReader = {
      shnums: inner.shnums,
      read(shnum, off, len) {
        reads.set(shnum, (reads.get(shnum) ?? 0) + 1);
        return new Promise((resolve) => waiting.push(() => resolve(inner.read(shnum, off, len))));
      },
    };
    const chunks = decodeChk(cap as ChkCap, reader, opts({ depth: 1 }));
    let first: Uint8Array | undefined;
    const got = chunks.next().then((r) => {
      first = r.value as Uint8Array;
    });
    let waves = 0;
    while (!first && waves < 20) {
      await new Promise((r) => setImmediate(r));
      if (first) break;
      const wave = waiting;
      waiting = [];
      for (const go of wave) go();
      if (wave.length) waves++;
    }
    await got;
    expect(toHex(first!)).toBe(toHex(data.subarray(0, SEG)));
    expect(waves).toBe(3);
    // The share opened first was read twice (header, tail) and needs no more to be used;
    // the others twice each (header, trees), and every share once more for its block.
    expect([...reads.values()].sort()).toEqual([3, 3, 3]);
    await chunks.return(undefined);
  });
});

describe('share layout details', () => {
  it('chain order is CPython set order (reference examples)', () => {
    expect(chainOrder(10, 0)).toEqual([2, 4, 8, 15, 16]);
    expect(chainOrder(30, 7)).toEqual([2, 4, 37, 38, 7, 17]);
    expect(chainOrder(255, 0)).toEqual([256, 32, 64, 128, 4, 2, 8, 16, 255]);
    expect(chainOrder(1, 0)).toEqual([0]);
  });

  it('v1 header for ordinary files, v2 when a field passes 32 bits; headers round-trip', () => {
    const small = shareLayout(segmentGeometry(1_000_000, 3, 10, 131_073));
    expect(small.version).toBe(1);
    const huge = shareLayout(segmentGeometry(2 ** 34, 3, 10, 131_073));
    expect(huge.version).toBe(2);
    for (const l of [small, huge]) {
      const h = encodeHeader(l);
      expect(h.length).toBe(l.version === 1 ? 36 : 68);
      expect(() => checkHeader(0, h, l)).not.toThrow();
      expect(readTailOffsets(0, h)).toEqual({
        version: l.version,
        crypttextTreeOffset: l.crypttextTreeOffset,
        uebOffset: l.uebOffset,
      });
    }
    const v1InLongerShare = new Uint8Array(100);
    v1InLongerShare.set(encodeHeader(small));
    expect(() => checkHeader(3, v1InLongerShare, huge)).toThrow(/share 3: share version 1/);
    expect(() => checkHeader(3, encodeHeader(small), huge)).toThrow(/share 3: share is shorter/);
  });

  it('the UEB written into shares parses back to the plan', async () => {
    const size = 3 * SEG + 10;
    const { shares } = await encode(pattern(size));
    const plan = planChk(size, P);
    if (plan.kind !== 'chk') throw new Error('expected a CHK plan');
    const { uebOffset } = readTailOffsets(0, shares[0]);
    const ueb = parseUeb(shares[0].subarray(uebOffset + 4));
    expect([ueb.segmentSize, ueb.numSegments, ueb.size, ueb.neededShares, ueb.totalShares]).toEqual([
      SEG,
      4,
      size,
      3,
      10,
    ]);
    expect(ueb.tailCodecParams).toBe(`${plan.paddedTail}-3-10`);
    expect(shares[0].length - uebOffset - 4).toBe(plan.uebLength);
  });
});

describe('segment runners', () => {
  /** Jobs and results cross a structured-clone boundary with transfers, as with a worker. */
  function clonedRunner(): SegmentRunner {
    const across = <T>(v: T, buffers: ArrayBuffer[]) =>
      structuredClone(v, { transfer: [...new Set(buffers)] }) as T;
    return {
      parallelism: 2,
      async encode(job) {
        const plaintext = job.plaintext.slice();
        const r = await encodeSegment(across({ ...job, plaintext }, [plaintext.buffer]), nodeCrypto, codec);
        return across(r, r.blocks.map((b) => b.buffer) as ArrayBuffer[]);
      },
      async decode(job) {
        const blocks = job.blocks.map((b) => b.slice());
        const r = await decodeSegment(
          across(
            { ...job, blocks },
            blocks.map((b) => b.buffer),
          ),
          nodeCrypto,
          codec,
        );
        return r;
      },
    };
  }

  it('released segments have their memory reused without changing a byte (zero padding included)', async () => {
    // The last segment is one byte short of a multiple of k: same block size as the others,
    // so it lands in a reused buffer whose padding byte held the previous segment's data.
    const data = pattern(3 * SEG + SEG - 1, 12);
    const oneShot = webCryptoBackend({ oneShotHashLimit: 1 << 20 });
    for (const backend of [nodeCrypto, webCrypto, oneShot]) {
      const key = randomKey();
      const plan = planChk(data.length, P);
      if (plan.kind !== 'chk') throw new Error('expected CHK');
      const kept = Array.from({ length: P.n }, () => new Uint8Array(plan.shareSize));
      const buffers = new Set<ArrayBufferLike>();
      for await (const step of encodeChk(bytesSource(data), P, key, { backend, codec })) {
        for (const w of step.writes) kept[w.shnum].set(w.data, w.offset);
        if (step.kind === 'segment') buffers.add(step.writes[0].data.buffer); // never released
      }
      expect(buffers.size).toBe(4);
      const reused = await encodeToShares(bytesSource(data), P, key, { backend, codec, depth: 1 });
      expect(reused.shares.map(toHex)).toEqual(kept.map(toHex));
    }
  });

  it("writes each share's trailer from the trees it has, not from a fresh copy per share", async () => {
    const data = pattern(40 * SEG + 5, 14);
    const key = randomKey();
    const plan = planChk(data.length, P);
    if (plan.kind !== 'chk') throw new Error('expected CHK');
    const kept = Array.from({ length: P.n }, () => new Uint8Array(plan.shareSize));
    let trailer: { buffers: Set<ArrayBufferLike>; bytes: number } | undefined;
    for await (const step of encodeChk(bytesSource(data), P, key, { backend: nodeCrypto, codec })) {
      for (const w of step.writes) kept[w.shnum].set(w.data, w.offset);
      if (step.kind === 'done') {
        trailer = { buffers: new Set(step.writes.map((w) => w.data.buffer)), bytes: 0 };
        for (const w of step.writes) trailer.bytes += w.data.length;
      }
    }
    const fresh = [...trailer!.buffers].reduce((n, b) => n + b.byteLength, 0);
    // Three trees per share (plaintext zeros, crypttext, block), two of them the same for all.
    expect(fresh).toBeLessThan(trailer!.bytes / 2);
    const oneCopy = await encodeToShares(bytesSource(data), P, key, { backend: nodeCrypto, codec });
    expect(kept.map(toHex)).toEqual(oneCopy.shares.map(toHex));
  });

  it('decodes with many segments in flight sharing reused ciphertext buffers, every byte right', async () => {
    // The local runner lays each segment's ciphertext out in a pooled buffer and gives it back
    // once decryption has read it; with async WebCrypto, 8 segments interleave their awaits.
    const data = pattern(40 * SEG + 5, 13);
    const { cap, shares } = await encode(data);
    for (const backend of [webCrypto, nodeCrypto]) {
      const back = await readChk(
        cap as ChkCap,
        memoryShareReader(sharesMap(shares)),
        opts({ backend, depth: 8 }),
      );
      expect(toHex(back)).toBe(toHex(data));
      // Every piece has a buffer of its own (FileNode.read's promise: the web app moves them):
      // a segment each, or the first alone and then four at a time (one decryption each).
      for (const [together, expected] of [
        [1, 41],
        [4, 11],
      ]) {
        const buffers = new Set<ArrayBufferLike>();
        const sizes: number[] = [];
        const reader = memoryShareReader(sharesMap(shares));
        const o = opts({ backend, depth: 8, segmentsPerPiece: together });
        for await (const piece of decodeChk(cap as ChkCap, reader, o)) {
          buffers.add(piece.buffer);
          sizes.push(piece.length);
        }
        expect(sizes.length).toBe(expected);
        expect(buffers.size).toBe(sizes.length);
        expect(sizes.slice(0, 2)).toEqual([SEG, together * SEG]);
      }
    }
  });

  it('encoding and decoding through a message boundary give the same cap, shares and plaintext', async () => {
    const data = pattern(7 * SEG + 11, 8);
    const local = await encode(data);
    const source = bytesSource(data);
    const key = await convergentKey(source, P, SECRET, nodeCrypto);
    const remote = await encodeToShares(source, P, key, {
      backend: nodeCrypto,
      codec,
      runner: clonedRunner(),
    });
    expect(formatCap(remote.cap)).toBe(formatCap(local.cap));
    expect(remote.shares.map(toHex)).toEqual(local.shares.map(toHex));
    const reported: number[] = [];
    const map = sharesMap(remote.shares, (i) => i >= 5);
    const bad = remote.shares[5].slice();
    bad[layoutOf(data.length).dataOffset + 3 * (SEG / 3) + 1] ^= 4; // segment 3 of share 5
    map.set(5, bad);
    const back = await readChk(
      remote.cap as ChkCap,
      memoryShareReader(map),
      opts({ runner: clonedRunner(), onShareError: (e) => reported.push(e.shnum) }),
    );
    expect(toHex(back)).toBe(toHex(data));
    expect(reported).toEqual([5]);
  });
});

describe('a faulty uploader', () => {
  it('blocks that verify but decode to ciphertext the crypttext tree rejects raise ChkIntegrityError', async () => {
    // Rebuild every share with a crypttext tree over wrong leaves, a UEB naming its root,
    // and a cap naming that UEB: all hashes chain up, yet the data does not match.
    const size = 2 * SEG + 9;
    const { cap, shares } = await encode(pattern(size, 12));
    const plan = planChk(size, P);
    if (plan.kind !== 'chk' || cap.kind !== 'chk') throw new Error('expected CHK');
    const { layout } = plan;
    const wrongTree = buildHashTree([
      new Uint8Array(32).fill(1),
      new Uint8Array(32).fill(2),
      new Uint8Array(32).fill(3),
    ]);
    const { uebOffset } = readTailOffsets(0, shares[0]);
    const old = parseUeb(shares[0].subarray(uebOffset + 4));
    const ueb = serializeUeb(plan, { ...old, crypttextRootHash: wrongTree[0] });
    const forged = shares.map((s) => {
      const copy = s.slice();
      copy.set(concatBytes(...wrongTree), layout.crypttextTreeOffset);
      copy.set(ueb, uebOffset + 4);
      return copy;
    });
    const forgedCap: ChkCap = { ...cap, uebHash: uebHash(ueb) };
    const err = await readChk(forgedCap, memoryShareReader(sharesMap(forged)), opts()).catch((e) => e);
    expect(err).toBeInstanceOf(ChkIntegrityError);
    expect(err.code).toBe('CHK_INTEGRITY');
  });
});

describe('limits', () => {
  it('a file with more segments than whole-tree reading allows is refused with a clear error', async () => {
    // A share holding only a header and an authentic UEB for 2^21 segments of 3 bytes.
    const g = segmentGeometry(3 * 2 ** 21, 3, 10, 3);
    const zero = new Uint8Array(32);
    const ueb = serializeUeb(g, { crypttextHash: zero, crypttextRootHash: zero, shareRootHash: zero });
    const share = new Uint8Array(0x44 + 4 + ueb.length);
    const view = new DataView(share.buffer);
    view.setUint32(0, 1);
    view.setUint32(0x20, 0x44);
    view.setUint32(0x44, ueb.length);
    share.set(ueb, 0x48);
    const cap: ChkCap = { kind: 'chk', key: randomKey(), uebHash: uebHash(ueb), k: 3, n: 10, size: g.size };
    const err = await readChk(cap, memoryShareReader(new Map([[0, share]])), opts()).catch((e) => e);
    expect(err.code).toBe('TOO_MANY_SEGMENTS');
    expect(err.message).toMatch(/2097152 segments/);
  });
});
