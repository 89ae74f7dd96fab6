/**
 * SDMF and MDMF shares: prefix and layout byte for byte, round trips through the real
 * encoder, verifier and decoder for many sizes and (k, N), decoding from every k-subset,
 * reads that fetch only the byte ranges the layout names, and what a hostile header gets.
 */
import { describe, expect, it } from 'vitest';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { decodeRange, decodeSegment, segmentsCovering } from '../../core/mutable/decode.ts';
import { MutableShareCorruptError, UnsupportedMutableShareError } from '../../core/mutable/errors.ts';
import {
  type ByteRange,
  bytesAt,
  chainEntries,
  HEADER_FETCH_BYTES,
  MDMF_SHARE_DATA_OFFSET,
  mergeRanges,
  parseHeader,
  readSegment,
  readVerificationMaterial,
  type SharePiece,
  segmentRange,
  signatureRanges,
  verificationRanges,
} from '../../core/mutable/layout.ts';
import {
  checkstringOf,
  decodePrefix,
  encodePrefix,
  MAX_MUTABLE_SEGMENTS,
  mutableGeometry,
  planMutable,
} from '../../core/mutable/prefix.ts';
import {
  checkPubkey,
  checkSegment,
  checkShareHashes,
  checkSignature,
  verifyShare,
} from '../../core/mutable/verify.ts';
import { InputError } from '../../core/errors.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { encodeTest, fakeSigner, seededRandom, subsets, testKey, tools } from './mutable-harness.ts';
import { encodeMutable } from '../../core/mutable/encode.ts';
import { webCrypto } from '../../core/primitives/crypto-web.ts';

const ROOT = pattern(32, 77);
const IV = pattern(16, 78);

describe('signed prefix', () => {
  it('SDMF is 75 bytes and MDMF 59, big-endian, and both parse back', () => {
    const sdmf = encodePrefix({
      format: 'sdmf',
      seqnum: 0x0102030405,
      rootHash: ROOT,
      iv: IV,
      k: 3,
      n: 10,
      segmentSize: 36,
      dataLength: 34,
    });
    expect(sdmf.length).toBe(75);
    expect(toHex(sdmf)).toBe(
      `00${'0000000102030405'}${toHex(ROOT)}${toHex(IV)}030a${'0000000000000024'}${'0000000000000022'}`,
    );
    const mdmf = encodePrefix({
      format: 'mdmf',
      seqnum: 7,
      rootHash: ROOT,
      k: 3,
      n: 10,
      segmentSize: 131073,
      dataLength: 1,
    });
    expect(mdmf.length).toBe(59);
    expect(toHex(mdmf)).toBe(
      `01${'0000000000000007'}${toHex(ROOT)}030a${'0000000000020001'}${'0000000000000001'}`,
    );
    const p = decodePrefix(4, sdmf);
    expect([
      p.format,
      p.seqnum,
      toHex(p.rootHash),
      toHex(p.iv!),
      p.k,
      p.n,
      p.segmentSize,
      p.dataLength,
    ]).toEqual(['sdmf', 0x0102030405, toHex(ROOT), toHex(IV), 3, 10, 36, 34]);
    const q = decodePrefix(4, mdmf);
    expect([q.format, q.seqnum, q.iv, q.numSegments, q.tailSize, q.tailBlockSize]).toEqual([
      'mdmf',
      7,
      undefined,
      1,
      1,
      1,
    ]);
    expect(toHex(checkstringOf(sdmf))).toBe(toHex(sdmf.subarray(0, 57)));
    expect(toHex(checkstringOf(mdmf))).toBe(toHex(mdmf.subarray(0, 41)));
    expect(() => checkstringOf(new Uint8Array([2, 0, 0]))).toThrow(InputError);
  });

  it('segment sizes follow Tahoe: SDMF one padded segment, MDMF 128 KiB rounded to k even when tiny', () => {
    expect(planMutable('sdmf', 34, 3, 10)).toMatchObject({ segmentSize: 36, numSegments: 1, blockSize: 12 });
    expect(planMutable('sdmf', 0, 3, 10)).toMatchObject({ segmentSize: 0, numSegments: 0, shareDataSize: 0 });
    expect(planMutable('mdmf', 0, 3, 10)).toMatchObject({
      segmentSize: 131073,
      numSegments: 0,
      shareDataSize: 0,
    });
    expect(planMutable('mdmf', 1, 3, 10)).toMatchObject({
      numSegments: 1,
      tailBlockSize: 1,
      shareDataSize: 17,
    });
    const g = planMutable('mdmf', 3 * 131073 + 5, 3, 10);
    expect(g).toMatchObject({ numSegments: 4, blockSize: 43691, tailSize: 5, tailBlockSize: 2 });
    expect(g.shareDataSize).toBe(3 * (16 + 43691) + 16 + 2);
    expect(planMutable('mdmf', 131072 * 2, 1, 1)).toMatchObject({
      segmentSize: 131072,
      numSegments: 2,
      tailSize: 131072,
    });
    expect(() => planMutable('mdmf', 1, 3, 256)).toThrow(InputError);
    expect(() => planMutable('sdmf', 1, 4, 3)).toThrow(InputError);
  });

  it('a hostile prefix gets a typed error naming the share', () => {
    const good = encodePrefix({
      format: 'mdmf',
      seqnum: 1,
      rootHash: ROOT,
      k: 3,
      n: 10,
      segmentSize: 131073,
      dataLength: 9,
    });
    const with_ = (at: number, bytes: number[]) => {
      const b = good.slice();
      b.set(bytes, at);
      return b;
    };
    const corrupt = (b: Uint8Array, re: RegExp) => {
      const err = (() => {
        try {
          decodePrefix(6, b);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(MutableShareCorruptError);
      expect((err as MutableShareCorruptError).shnum).toBe(6);
      expect((err as MutableShareCorruptError).field).toBe('prefix');
      expect((err as Error).message).toMatch(re);
    };
    corrupt(good.subarray(0, 58), /truncated/);
    corrupt(new Uint8Array(0), /empty/);
    corrupt(with_(41, [0]), /k and N/); // k = 0
    corrupt(with_(41, [11]), /k and N/); // k > N
    corrupt(with_(43, [0, 0, 0, 0, 0, 2, 0, 0]), /not a multiple of k/);
    corrupt(with_(43, [0, 0, 0, 0, 0, 0, 0, 0]), /multiple of k|cannot be 0/);
    expect(() => decodePrefix(6, with_(0, [2]))).toThrow(UnsupportedMutableShareError);
    expect(() => decodePrefix(6, with_(51, [0xff, 0, 0, 0, 0, 0, 0, 0]))).toThrow(
      /share 6: data length .* too large/,
    );
    // Tiny segments of a huge file: more segments than a tree this code will read.
    const many = encodePrefix({
      format: 'mdmf',
      seqnum: 1,
      rootHash: ROOT,
      k: 1,
      n: 1,
      segmentSize: 1,
      dataLength: 1,
    });
    new DataView(many.buffer).setBigUint64(51, BigInt(MAX_MUTABLE_SEGMENTS + 1));
    expect(() => decodePrefix(2, many)).toThrow(UnsupportedMutableShareError);
    // SDMF's segment size is the data length rounded up to k, nothing else.
    expect(() => mutableGeometry('sdmf', 3, 10, 39, 34)).toThrow(/SDMF segment size/);
    expect(() =>
      encodePrefix({
        format: 'sdmf',
        seqnum: 1,
        rootHash: ROOT,
        k: 3,
        n: 10,
        segmentSize: 36,
        dataLength: 34,
      }),
    ).toThrow(/IV/);
  });
});

describe('share layout', () => {
  it('SDMF: header, pubkey, signature, sorted chain without the leaf, one-node tree, block, encprivkey', async () => {
    const key = await testKey();
    const data = pattern(33, 3);
    const v = await encodeTest(data, { format: 'sdmf', k: 3, n: 10 });
    const l = v.header.layout;
    const share = v.shares[4];
    expect(l).toMatchObject({ pubkey: 107, signature: 107 + key.publicKey.length });
    expect(l.shareHashChain).toBe(l.signature + 256);
    expect(l.blockHashTree).toBe(l.shareHashChain + 34 * 4);
    expect(l.shareData).toBe(l.blockHashTree + 32);
    expect(l.encPrivKey).toBe(l.shareData + 11);
    expect(l.eof).toBe(l.encPrivKey + key.privateKey.length);
    expect(share.length).toBe(l.eof);
    expect(toHex(share.subarray(0, 75))).toBe(toHex(v.prefixBytes));
    const view = new DataView(share.buffer, share.byteOffset);
    expect([view.getUint32(75), view.getUint32(79), view.getUint32(83), view.getUint32(87)]).toEqual([
      l.signature,
      l.shareHashChain,
      l.blockHashTree,
      l.shareData,
    ]);
    expect([Number(view.getBigUint64(91)), Number(view.getBigUint64(99))]).toEqual([l.encPrivKey, l.eof]);
    expect(toHex(share.subarray(107, l.signature))).toBe(toHex(key.publicKey));
    // Share 4 of 10 is leaf node 19 of a 31-node tree: siblings 20, 10, 3, 2, stored ascending.
    const nodes = [0, 1, 2, 3].map(
      (i) => (share[l.shareHashChain + 34 * i] << 8) | share[l.shareHashChain + 34 * i + 1],
    );
    expect(nodes).toEqual([2, 3, 10, 20]);
    expect(chainEntries(1)).toBe(0);
    expect(chainEntries(255)).toBe(8);
  });

  it('MDMF: keys and chain from 123, zeros to 2167, salt || block per segment, tree last', async () => {
    const key = await testKey();
    const data = pattern(2 * 131073 + 10, 4);
    const v = await encodeTest(data, { format: 'mdmf', k: 3, n: 10 });
    const l = v.header.layout;
    expect(l).toMatchObject({ encPrivKey: 123, shareData: 2167 });
    expect(MDMF_SHARE_DATA_OFFSET).toBe(2167);
    expect(l.shareHashChain).toBe(123 + key.privateKey.length);
    expect(l.signature).toBe(l.shareHashChain + 34 * 4);
    expect(l.pubkey).toBe(l.signature + 256);
    expect(l.pubkeyEnd).toBe(l.pubkey + key.publicKey.length);
    expect(l.blockHashTree).toBe(2167 + 2 * (16 + 43691) + 16 + 4);
    expect(l.eof).toBe(l.blockHashTree + 32 * 7);
    const share = v.shares[0];
    expect(share.subarray(l.pubkeyEnd, 2167).every((b) => b === 0)).toBe(true);
    const view = new DataView(share.buffer, share.byteOffset);
    const offsets = Array.from({ length: 8 }, (_, i) => Number(view.getBigUint64(59 + 8 * i)));
    expect(offsets).toEqual([
      123,
      l.shareHashChain,
      l.signature,
      l.pubkey,
      l.pubkeyEnd,
      2167,
      l.blockHashTree,
      l.eof,
    ]);
    expect(toHex(share.subarray(2167, 2183))).toBe(toHex(v.salts[0]));
    expect(toHex(share.subarray(2167 + 16 + 43691, 2167 + 32 + 43691))).toBe(toHex(v.salts[1]));
    // Primary share 0's first block is the first third of the encrypted segment: not the plaintext.
    expect(toHex(share.subarray(2183, 2183 + 16))).not.toBe(toHex(data.subarray(0, 16)));
  });

  it('empty files: SDMF keeps an IV and a one-node tree; MDMF has no segments and a one-leaf tree', async () => {
    for (const format of ['sdmf', 'mdmf'] as const) {
      const v = await encodeTest(new Uint8Array(0), { format, k: 3, n: 10 });
      expect(v.salts.length).toBe(format === 'sdmf' ? 1 : 0);
      const l = v.header.layout;
      expect(l.shareData - l.blockHashTree).toBe(format === 'sdmf' ? 32 : l.shareData - l.blockHashTree);
      if (format === 'mdmf') expect([l.blockHashTree, l.eof]).toEqual([2167, 2199]);
      else expect(l.encPrivKey).toBe(l.shareData);
      const key = await testKey();
      for (const [sh, share] of v.shares.entries()) {
        const ok = await verifyShare(sh, share, key.fingerprint, nodeCrypto);
        expect(ok.segments).toEqual([]);
      }
      const got = await decodeRange(
        await Promise.all(v.shares.slice(0, 3).map((s, i) => verifyShare(i, s, key.fingerprint, nodeCrypto))),
        key.readKey,
        await tools(),
      );
      expect(got.length).toBe(0);
    }
  });

  it('parseHeader checks every offset against the others; the reader fetch plan covers what verification reads', async () => {
    const v = await encodeTest(pattern(1000, 5), { format: 'mdmf', k: 2, n: 3 });
    const share = v.shares[1];
    const header = parseHeader(1, share.subarray(0, HEADER_FETCH_BYTES));
    expect(header.layout).toEqual(v.header.layout);
    const key = await testKey();
    for (const at of [59, 67, 75, 83, 91, 99, 107, 115]) {
      const bad = share.slice(0, HEADER_FETCH_BYTES);
      bad[at + 7] ^= 8;
      if (at !== 91) {
        expect(() => parseHeader(1, bad)).toThrow(MutableShareCorruptError);
        continue;
      }
      // The public key's end is the one free offset (key lengths vary): a wrong one reads a
      // wrong key, which the fingerprint check refuses.
      const h = parseHeader(1, bad);
      const m = readVerificationMaterial(1, h, [{ offset: 0, bytes: share }]);
      expect(() => checkPubkey(1, m.pubkey, key.fingerprint)).toThrow(/pubkey: public key does not match/);
    }
    expect(() => parseHeader(1, share.subarray(0, 100))).toThrow(/offsets: share is truncated/);
    const ranges = verificationRanges(header.layout);
    expect(ranges.length).toBe(2);
    const sig = signatureRanges(header.layout);
    expect(sig).toEqual([
      { offset: header.layout.signature, length: header.layout.pubkeyEnd - header.layout.signature },
    ]);
    // Only the fetched ranges, as a reader would hold them.
    const pieces: SharePiece[] = ranges.map((r) => ({
      offset: r.offset,
      bytes: share.slice(r.offset, r.offset + r.length),
    }));
    const m = readVerificationMaterial(1, header, pieces);
    checkPubkey(1, m.pubkey, key.fingerprint);
    await checkSignature(1, header, m.pubkey, m.signature);
    const leaves = checkShareHashes(1, header, m.chain, m.blockHashTree);
    expect(() => readSegment(1, header, 0, pieces)).toThrow(/block: share is truncated/);
    const r = segmentRange(header, 0);
    const split: SharePiece[] = [
      { offset: r.offset, bytes: share.slice(r.offset, r.offset + 10) },
      { offset: r.offset + 5, bytes: share.slice(r.offset + 5, r.offset + r.length) },
    ];
    await checkSegment(1, header, 0, leaves, readSegment(1, header, 0, split), nodeCrypto);
    expect(toHex(bytesAt(1, split, { offset: r.offset + 3, length: 20 }, 'block'))).toBe(
      toHex(share.subarray(r.offset + 3, r.offset + 23)),
    );
    expect(
      mergeRanges([
        { offset: 10, length: 5 },
        { offset: 0, length: 10 },
        { offset: 30, length: 1 },
        { offset: 12, length: 0 },
      ]),
    ).toEqual([
      { offset: 0, length: 15 },
      { offset: 30, length: 1 },
    ]);
  });
});

describe('round trips', () => {
  const KN: [number, number][] = [
    [1, 1],
    [3, 10],
    [2, 3],
    [71, 255],
  ];
  for (const format of ['sdmf', 'mdmf'] as const) {
    for (const [k, n] of KN) {
      const seg = format === 'mdmf' ? Math.ceil(131072 / k) * k : 0;
      const sizes = [0, 1, k - 1, k, k + 1, ...(format === 'mdmf' ? [seg, seg + 1] : [5000])].filter(
        (s, i, a) => s >= 0 && a.indexOf(s) === i,
      );
      it(`${format} ${k}-of-${n}: ${sizes.join(', ')} bytes verify and decode`, async () => {
        const key = await testKey();
        for (const size of sizes) {
          const data = pattern(size, size + k);
          const v = await encodeTest(data, { format, k, n });
          const verified = await Promise.all(
            v.shares.map((s, i) => verifyShare(i, s, key.fingerprint, nodeCrypto)),
          );
          // The last k shares: all parity where k < N.
          const got = await decodeRange(verified.slice(n - k), key.readKey, await tools());
          expectBytesEqual(got, data, `${format} ${k}-of-${n} ${size} bytes`);
        }
      });
    }
  }

  it('decodes from every k-subset (3-of-6, SDMF and multi-segment MDMF)', async () => {
    const key = await testKey();
    for (const [format, size] of [
      ['sdmf', 1001],
      ['mdmf', 2 * 131073 + 77],
    ] as const) {
      const data = pattern(size, 31);
      const v = await encodeTest(data, { format, k: 3, n: 6 });
      const verified = await Promise.all(
        v.shares.map((s, i) => verifyShare(i, s, key.fingerprint, nodeCrypto)),
      );
      for (const set of subsets(6, 3)) {
        const got = await decodeRange(
          set.map((i) => verified[i]),
          key.readKey,
          await tools(),
        );
        expectBytesEqual(got, data, `shares ${set}`);
      }
    }
  });

  it('the WebCrypto backend builds the same shares as node:crypto', async () => {
    for (const format of ['sdmf', 'mdmf'] as const) {
      const data = pattern(131073 + 999, 12);
      const opts = { format, k: 3, n: 5, signer: fakeSigner };
      const a = await encodeTest(data, { ...opts, random: seededRandom(4) });
      const key = await testKey();
      const b = await encodeMutable(
        {
          data,
          ...opts,
          seqnum: 1,
          privateKey: key.privateKey,
          publicKey: key.publicKey,
          random: seededRandom(4),
        },
        { codec: (await tools()).codec, backend: webCrypto },
      );
      a.shares.forEach((s, i) => {
        expectBytesEqual(b.shares[i], s, `${format} share ${i}`);
      });
    }
  });

  it('a 3 MiB MDMF file (25 segments) round-trips and its salts all differ', async () => {
    const key = await testKey();
    const data = pattern(3 * 1024 * 1024 + 100, 8);
    const v = await encodeTest(data, { format: 'mdmf', k: 3, n: 10 });
    expect(v.prefix.numSegments).toBe(25);
    expect(new Set(v.salts.map(toHex)).size).toBe(25);
    const verified = await Promise.all(
      [9, 4, 7].map((i) => verifyShare(i, v.shares[i], key.fingerprint, nodeCrypto)),
    );
    expectBytesEqual(await decodeRange(verified, key.readKey, await tools()), data, '3 MiB');
  });
});

describe('range reads', () => {
  /**
   * A reader that fetches only what the layout names: the header, the verification ranges,
   * then the covering segments of k shares. Records every range it asked for.
   */
  async function rangeRead(shares: Uint8Array[], shnums: number[], offset: number, length: number) {
    const key = await testKey();
    const fetched: { shnum: number; range: ByteRange }[] = [];
    const fetch = (shnum: number, range: ByteRange): SharePiece => {
      fetched.push({ shnum, range });
      return { offset: range.offset, bytes: shares[shnum].slice(range.offset, range.offset + range.length) };
    };
    const states = await Promise.all(
      shnums.map(async (shnum) => {
        const header = parseHeader(shnum, fetch(shnum, { offset: 0, length: HEADER_FETCH_BYTES }).bytes);
        const pieces = verificationRanges(header.layout).map((r) => fetch(shnum, r));
        const m = readVerificationMaterial(shnum, header, pieces);
        checkPubkey(shnum, m.pubkey, key.fingerprint);
        await checkSignature(shnum, header, m.pubkey, m.signature);
        return { shnum, header, leaves: checkShareHashes(shnum, header, m.chain, m.blockHashTree) };
      }),
    );
    const { prefix } = states[0].header;
    const segs = segmentsCovering(prefix, offset, length);
    const parts: Uint8Array[] = [];
    if (segs) {
      for (let s = segs.first; s <= segs.last; s++) {
        const got = await Promise.all(
          states.map(async (st) => {
            const seg = readSegment(st.shnum, st.header, s, [fetch(st.shnum, segmentRange(st.header, s))]);
            await checkSegment(st.shnum, st.header, s, st.leaves, seg, nodeCrypto);
            return seg;
          }),
        );
        parts.push(
          await decodeSegment(
            prefix,
            s,
            { blocks: got.map((g) => g.block), shnums, salt: got[0].salt },
            key.readKey,
            await tools(),
          ),
        );
      }
    }
    const whole = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((at, p) => {
      whole.set(p, at);
      return at + p.length;
    }, 0);
    const start = segs ? offset - segs.first * prefix.segmentSize : 0;
    return {
      bytes: whole.subarray(start, start + Math.min(length, prefix.dataLength - offset)),
      fetched,
      segs,
    };
  }

  it('MDMF fetches the header, verification ranges and only the covering segments', async () => {
    const SEG = 131073;
    const size = 5 * SEG + 1234;
    const data = pattern(size, 17);
    const v = await encodeTest(data, { format: 'mdmf', k: 3, n: 10 });
    const l = v.header.layout;
    for (const [offset, length] of [
      [0, 1],
      [SEG - 1, 2],
      [2 * SEG + 5, SEG],
      [size - 1, 1],
      [size - 100, 500],
      [3 * SEG, 0],
      [0, size],
    ]) {
      const { bytes, fetched, segs } = await rangeRead(v.shares, [2, 5, 9], offset, length);
      expectBytesEqual(bytes, data.subarray(offset, offset + length), `[${offset}, +${length})`);
      const dataReads = fetched.filter(
        (f) => f.range.offset >= l.shareData && f.range.offset < l.blockHashTree,
      );
      const touched = new Set(
        dataReads.map((f) => Math.floor((f.range.offset - l.shareData) / (16 + SEG / 3))),
      );
      const want = segs ? Array.from({ length: segs.last - segs.first + 1 }, (_, i) => segs.first + i) : [];
      expect([...touched].sort((a, b) => a - b)).toEqual(want);
      // Nothing else of the data area was read, and nothing past EOF.
      for (const f of fetched) expect(f.range.offset + f.range.length).toBeLessThanOrEqual(l.eof);
    }
    expect(() => segmentsCovering(v.prefix, size + 1, 1)).toThrow(/outside/);
  });

  it('SDMF is one segment: any range reads its one block', async () => {
    const data = pattern(4000, 2);
    const v = await encodeTest(data, { format: 'sdmf', k: 3, n: 10 });
    const { bytes, segs } = await rangeRead(v.shares, [0, 1, 2], 1000, 10);
    expect(segs).toEqual({ first: 0, last: 0 });
    expect(toHex(bytes)).toBe(toHex(data.subarray(1000, 1010)));
  });
});
