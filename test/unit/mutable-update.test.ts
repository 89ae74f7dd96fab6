/**
 * MDMF in-place updates: the write vectors, applied to the old shares, must give exactly the
 * shares a fresh encoding of the new contents would (same salts), for random files and
 * random updates including growth past the end, a new tail segment and a deeper block hash
 * tree; a really signed update verifies and decodes; and what is written grows with the
 * segments touched, not with the file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { decodeRange } from '../../core/mutable/decode.ts';
import type { EncodedMutableVersion } from '../../core/mutable/encode.ts';
import { parseHeader, readVerificationMaterial } from '../../core/mutable/layout.ts';
import { segmentSpan } from '../../core/mutable/prefix.ts';
import { applyWrites, encodeUpdate, type MutableUpdate, planUpdate } from '../../core/mutable/update.ts';
import { verifyShare } from '../../core/mutable/verify.ts';
import { InputError } from '../../core/errors.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import type { MutableSigner } from '../../core/mutable/encode.ts';
import { encodeTest, fakeSigner, saltsFrom, seededRandom, testKey, tools } from './mutable-harness.ts';

const SEG_K2 = 131072; // next_multiple(131072, 2)

/** Block hash trees as a reader holds them after verification (read from the shares). */
function treesOf(v: EncodedMutableVersion): Uint8Array[] {
  return v.shares.map((share, sh) => {
    const header = parseHeader(sh, share);
    return readVerificationMaterial(sh, header, [{ offset: 0, bytes: share }]).blockHashTree;
  });
}

/** The new contents: old bytes, zeros up to `offset` if past the end, the new bytes. */
function updated(old: Uint8Array, offset: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(old.length, offset + bytes.length));
  out.set(old);
  out.set(bytes, offset);
  return out;
}

async function update(
  old: EncodedMutableVersion,
  oldData: Uint8Array,
  offset: number,
  bytes: Uint8Array,
  signer: MutableSigner,
  seed: number,
): Promise<MutableUpdate> {
  const key = await testKey();
  const plan = planUpdate(old.prefix, offset, bytes.length);
  const oldSegments = new Map(
    plan.needed.map((s) => {
      const span = segmentSpan(old.prefix, s);
      return [s, oldData.slice(span.start, span.start + span.length)] as const;
    }),
  );
  return encodeUpdate(
    {
      current: old.header,
      blockHashTrees: treesOf(old),
      oldSegments,
      offset,
      data: bytes,
      seqnum: old.prefix.seqnum + 1,
      readKey: key.readKey,
      signer,
      random: seededRandom(seed),
    },
    await tools(),
  );
}

/** Salts a fresh encoding must use to match: the update's where it re-encoded, else the old. */
function mergedSalts(old: EncodedMutableVersion, upd: MutableUpdate): Uint8Array[] {
  return Array.from({ length: upd.prefix.numSegments }, (_, s) => upd.salts.get(s) ?? old.salts[s]);
}

async function checkAgainstFresh(
  oldSize: number,
  offset: number,
  length: number,
  k: number,
  n: number,
  seed: number,
) {
  const oldData = pattern(oldSize, seed);
  const bytes = pattern(length, seed + 1);
  const old = await encodeTest(oldData, {
    format: 'mdmf',
    k,
    n,
    signer: fakeSigner,
    random: seededRandom(seed),
  });
  const upd = await update(old, oldData, offset, bytes, fakeSigner, seed + 2);
  const newData = updated(oldData, offset, bytes);
  const fresh = await encodeTest(newData, {
    format: 'mdmf',
    k,
    n,
    seqnum: 2,
    signer: fakeSigner,
    random: saltsFrom(mergedSalts(old, upd)),
  });
  expect(upd.prefixBytes).toEqual(fresh.prefixBytes);
  for (let sh = 0; sh < n; sh++) {
    expectBytesEqual(applyWrites(old.shares[sh], upd.writes[sh]), fresh.shares[sh], `share ${sh}`);
    expect(upd.blockHashTrees[sh]).toEqual(treesOf(fresh)[sh]);
  }
  return { old, upd, fresh };
}

describe('MDMF update', () => {
  it('applied writes equal a fresh encoding with the same salts (random files and updates, growth included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * SEG_K2 + 100 }),
        fc.integer({ min: 0, max: 4 * SEG_K2 }),
        fc.integer({ min: 0, max: 2 * SEG_K2 }),
        fc.integer({ min: 1, max: 1000 }),
        async (oldSize, offsetRaw, length, seed) => {
          // Offsets mostly inside or just past the file, sometimes well past it.
          const offset = offsetRaw % (oldSize + SEG_K2 + 1);
          fc.pre(length > 0 || offset > oldSize);
          await checkAgainstFresh(oldSize, offset, length, 2, 4, seed);
        },
      ),
      { numRuns: 50 },
    );
  });

  it.each([
    ['inside one segment', 3 * SEG_K2 + 10, SEG_K2 + 5, 100],
    ['across a segment boundary', 3 * SEG_K2 + 10, 2 * SEG_K2 - 3, 10],
    ['whole segments exactly', 4 * SEG_K2, SEG_K2, 2 * SEG_K2],
    ['the tail, without growing', 2 * SEG_K2 + 9, 2 * SEG_K2, 9],
    ['growing inside the tail segment', 2 * SEG_K2 + 9, 2 * SEG_K2 + 5, 10],
    ['growing into a new segment', 2 * SEG_K2 + 9, 2 * SEG_K2 + 5, SEG_K2],
    ['growing from a full last segment', 2 * SEG_K2, 2 * SEG_K2, 1],
    ['a deeper block hash tree', 2 * SEG_K2, SEG_K2, 2 * SEG_K2 + 1],
    ['a hole of zeros past the end', 100, SEG_K2 + 50, 7],
    ['extending with zeros only', 100, 2 * SEG_K2 + 1, 0],
    ['an empty file', 0, 0, 1],
    ['an empty file, past its end', 0, 3 * SEG_K2, 5],
  ])('%s', async (_, oldSize, offset, length) => {
    await checkAgainstFresh(oldSize, offset, length, 2, 4, oldSize + offset + length);
  });

  it('works for 1-of-1 and 71-of-255', async () => {
    await checkAgainstFresh(2 * 131072 + 1, 131072 - 1, 3, 1, 1, 5);
    const seg = 131072 + 71 - (131072 % 71);
    await checkAgainstFresh(seg + 50, seg - 10, 100, 71, 255, 6);
  });

  it('a really signed update verifies and reads back', async () => {
    const key = await testKey();
    const oldData = pattern(3 * SEG_K2 + 77, 3);
    const old = await encodeTest(oldData, { format: 'mdmf', k: 2, n: 4 });
    const bytes = pattern(5000, 4);
    const offset = 3 * SEG_K2 + 70;
    const upd = await update(old, oldData, offset, bytes, key.signer, 9);
    expect(upd.prefix.seqnum).toBe(2);
    expect(upd.oldCheckstring).toEqual(old.checkstring);
    expect(upd.checkstring).toEqual(upd.prefixBytes.subarray(0, 41));
    const shares = old.shares.map((s, sh) => applyWrites(s, upd.writes[sh]));
    const verified = await Promise.all(
      shares.map((s, sh) => verifyShare(sh, s, key.fingerprint, nodeCrypto)),
    );
    expectBytesEqual(
      await decodeRange(verified.slice(2), key.readKey, await tools()),
      updated(oldData, offset, bytes),
    );
    // The old shares' stale checkstring no longer matches: the test vector would refuse a racer.
    expect(shares[0].subarray(0, 41)).not.toEqual(old.checkstring);
  });

  it('writes bytes in proportion to the segments touched, not the file', async () => {
    const data = pattern(3 * 1024 * 1024 + 100, 11); // 25 segments
    const old = await encodeTest(data, { format: 'mdmf', k: 3, n: 10, signer: fakeSigner });
    const slot = 16 + old.prefix.blockSize;
    const written = (u: MutableUpdate) => u.writes.map((w) => w.reduce((a, x) => a + x.data.length, 0));
    // One segment, in the middle.
    const one = await update(old, data, 12 * 131073 + 5, pattern(100, 1), fakeSigner, 1);
    for (const total of written(one)) {
      expect(total).toBeGreaterThanOrEqual(slot);
      expect(total).toBeLessThan(slot + 1000); // prefix 59 + chain 136 + signature 256 + 6 tree nodes
    }
    // Three segments.
    const three = await update(old, data, 12 * 131073 - 1, pattern(131073 + 2, 2), fakeSigner, 2);
    for (const total of written(three)) expect(total).toBeLessThan(3 * slot + 1000);
    // Growing the tail moves the block hash tree: rewritten whole (63 nodes), still small.
    const grow = await update(old, data, data.length, pattern(10, 3), fakeSigner, 3);
    for (const total of written(grow)) expect(total).toBeLessThan(slot + 123 + 400 + 63 * 32 + 100);
    expect(old.shares[0].length).toBeGreaterThan(20 * slot);
  });

  it('refuses what it cannot do', async () => {
    const key = await testKey();
    const sdmf = await encodeTest(pattern(10, 1), { format: 'sdmf', k: 3, n: 10 });
    expect(() => planUpdate(sdmf.prefix, 0, 1)).toThrow(/only MDMF/);
    const data = pattern(SEG_K2 + 10, 1);
    const old = await encodeTest(data, { format: 'mdmf', k: 2, n: 4 });
    expect(() => planUpdate(old.prefix, 5, 0)).toThrow(InputError);
    expect(planUpdate(old.prefix, 5, 10).needed).toEqual([0]);
    expect(planUpdate(old.prefix, 0, SEG_K2).needed).toEqual([]);
    expect(planUpdate(old.prefix, SEG_K2 - 1, 2).needed).toEqual([0, 1]);
    const base = {
      current: old.header,
      blockHashTrees: treesOf(old),
      oldSegments: new Map<number, Uint8Array>(),
      offset: 5,
      data: pattern(10, 2),
      seqnum: 2,
      readKey: key.readKey,
      signer: fakeSigner,
      random: seededRandom(1),
    };
    await expect(encodeUpdate(base, await tools())).rejects.toThrow(/needs old segment 0/);
    const stale = treesOf(old).map((t) => t.slice());
    stale[2][5] ^= 1;
    await expect(
      encodeUpdate(
        { ...base, oldSegments: new Map([[0, data.slice(0, SEG_K2)]]), blockHashTrees: stale },
        await tools(),
      ),
    ).rejects.toThrow(/not the current version/);
    await expect(
      encodeUpdate({ ...base, oldSegments: new Map([[0, data.slice(0, SEG_K2)]]), seqnum: 1 }, await tools()),
    ).rejects.toThrow(/sequence number/);
    await expect(
      encodeUpdate(
        { ...base, offset: 0, data: pattern(SEG_K2, 1), blockHashTrees: treesOf(old).slice(1) },
        await tools(),
      ),
    ).rejects.toThrow(/all 4 shares/);
  });
});
