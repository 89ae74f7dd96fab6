/**
 * Damaged mutable shares: a flipped bit in every field (prefix, offsets, public key,
 * signature, chain, block hash tree, salts, blocks, encrypted private key) is caught by the
 * reader checks, or by the writer's private-key check, or lies where nothing is read (MDMF's
 * reserved zeros); truncations and shares of another file or share number are refused; every
 * error names the share and the field.
 */
import { describe, expect, it } from 'vitest';
import { pattern } from '../harness/bytes.ts';
import { decodeRange } from '../../core/mutable/decode.ts';
import { MutableShareCorruptError, UnsupportedMutableShareError } from '../../core/mutable/errors.ts';
import { type MutableShareLayout, parseHeader, readEncPrivKey } from '../../core/mutable/layout.ts';
import { checkEncPrivKey, verifyShare } from '../../core/mutable/verify.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { generateRsaKeyPair } from '../../core/primitives/rsa.ts';
import { fingerprintOf } from '../../core/mutable/keys.ts';
import { encodeTest, testKey, tools } from './mutable-harness.ts';

type Region =
  | 'prefix'
  | 'offsets'
  | 'pubkey'
  | 'signature'
  | 'chain'
  | 'tree'
  | 'data'
  | 'gap'
  | 'encprivkey';

function regionOf(l: MutableShareLayout, pos: number): Region {
  if (pos < l.headerSize - (l.format === 'sdmf' ? 32 : 64)) return 'prefix';
  if (pos < l.headerSize) return 'offsets';
  const spans: [number, number, Region][] = [
    [l.pubkey, l.pubkeyEnd, 'pubkey'],
    [l.signature, l.signature + 256, 'signature'],
    [
      l.shareHashChain,
      l.shareHashChain + (l.format === 'sdmf' ? l.blockHashTree : l.signature) - l.shareHashChain,
      'chain',
    ],
    [l.blockHashTree, l.format === 'sdmf' ? l.shareData : l.eof, 'tree'],
    [l.shareData, l.format === 'sdmf' ? l.encPrivKey : l.blockHashTree, 'data'],
    [l.encPrivKey, l.format === 'sdmf' ? l.eof : l.shareHashChain, 'encprivkey'],
  ];
  for (const [a, b, r] of spans) if (pos >= a && pos < b) return r;
  return 'gap';
}

/** Reader checks: the error (typed, naming share `sh`) or undefined if the share passes. */
async function readerError(sh: number, share: Uint8Array) {
  const key = await testKey();
  try {
    await verifyShare(sh, share, key.fingerprint, nodeCrypto);
    return undefined;
  } catch (err) {
    if (!(err instanceof MutableShareCorruptError) && !(err instanceof UnsupportedMutableShareError))
      throw err;
    expect(err.shnum).toBe(sh);
    expect(err.message).toMatch(new RegExp(`^share ${sh}: `));
    return err;
  }
}

/** The writer's check of the encrypted private key (after the header parses). */
async function writerDetects(sh: number, share: Uint8Array): Promise<boolean> {
  const key = await testKey();
  try {
    const header = parseHeader(sh, share);
    checkEncPrivKey(sh, readEncPrivKey(sh, header, [{ offset: 0, bytes: share }]), key.writeKey);
    return false;
  } catch (err) {
    if (!(err instanceof MutableShareCorruptError) && !(err instanceof UnsupportedMutableShareError))
      throw err;
    return true;
  }
}

const FIELD_OF: Partial<Record<Region, string[]>> = {
  pubkey: ['pubkey'],
  signature: ['signature'],
  chain: ['share hash chain'],
  tree: ['block hash tree', 'share hash chain'],
  data: ['block'],
};

describe('a flipped bit anywhere', () => {
  for (const [format, size, sh] of [
    ['sdmf', 33, 4],
    ['mdmf', 131073 + 50, 7],
    ['mdmf', 0, 2],
  ] as const) {
    it(`${format}, ${size} bytes, share ${sh}: detected by readers, by writers (encprivkey), or in unused bytes`, async () => {
      const key = await testKey();
      const data = pattern(size, 40);
      const v = await encodeTest(data, { format, k: 3, n: 10 });
      const l = v.header.layout;
      const share = v.shares[sh];
      expect(await readerError(sh, share)).toBeUndefined();
      expect(await writerDetects(sh, share)).toBe(false);
      // Every byte outside the big first MDMF block; there, every 101st plus its ends.
      const positions: number[] = [];
      const firstBlock = [l.shareData + 16, l.shareData + 16 + v.prefix.blockSize - 1];
      for (let pos = 0; pos < share.length; pos++) {
        const inBigBlock = format === 'mdmf' && size > 131073 && pos > firstBlock[0] && pos < firstBlock[1];
        if (!inBigBlock || pos % 101 === 0) positions.push(pos);
      }
      const seen = new Set<Region>();
      for (const pos of positions) {
        const damaged = share.slice();
        damaged[pos] ^= 1 << (pos % 8);
        const region = regionOf(l, pos);
        seen.add(region);
        const err = await readerError(sh, damaged);
        const where = `${region} byte ${pos}`;
        if (region === 'encprivkey') {
          expect(err, where).toBeUndefined(); // readers never look at it
          expect(await writerDetects(sh, damaged), where).toBe(true);
        } else if (region === 'gap') {
          // MDMF's reserved zeros between the public key and the share data: never read.
          expect(err, where).toBeUndefined();
          expect(await writerDetects(sh, damaged), where).toBe(false);
        } else if (region === 'offsets' && l.format === 'sdmf' && pos >= 99) {
          // SDMF's EOF offset only sizes the encrypted private key: a shorter one passes
          // readers (a longer one runs past the share), and the writer check catches both.
          expect(await writerDetects(sh, damaged), where).toBe(true);
        } else {
          expect(err, where).toBeDefined();
          const fields = FIELD_OF[region];
          if (fields) expect(fields, where).toContain((err as MutableShareCorruptError).field);
        }
      }
      const expected: Region[] = ['prefix', 'offsets', 'pubkey', 'signature', 'chain', 'tree', 'encprivkey'];
      if (size > 0) expected.push('data');
      if (format === 'mdmf') expected.push('gap');
      expect([...seen].sort()).toEqual(expected.sort());
      // What passes the reader still decodes to the file: the unused bytes really are unused.
      const gapShare = share.slice();
      if (format === 'mdmf') gapShare[l.pubkeyEnd + 3] = 0xff;
      const others = await Promise.all(
        [0, 1].filter((i) => i !== sh).map((i) => verifyShare(i, v.shares[i], key.fingerprint, nodeCrypto)),
      );
      const mine = await verifyShare(sh, gapShare, key.fingerprint, nodeCrypto);
      const got = await decodeRange([mine, ...others].slice(0, 3), key.readKey, await tools());
      expect(toHex(got)).toBe(toHex(data));
    });
  }
});

describe('other damage', () => {
  it('truncation anywhere is refused and names the share', async () => {
    for (const format of ['sdmf', 'mdmf'] as const) {
      const v = await encodeTest(pattern(5000, 1), { format, k: 3, n: 10 });
      const share = v.shares[1];
      for (const cut of [0, 1, 50, 106, 122, 500, 1000, 2100, share.length - 1]) {
        const err = await readerError(1, share.subarray(0, cut));
        expect(err, `${format} cut at ${cut}`).toBeInstanceOf(MutableShareCorruptError);
        expect(err!.message).toMatch(/truncated|empty/);
      }
      // Bytes after EOF are stale data from an older, longer version: allowed.
      const longer = new Uint8Array(share.length + 100);
      longer.set(share);
      expect(await readerError(1, longer)).toBeUndefined();
    }
  });

  it('a share presented under another number fails its chain; a share of another file fails its key', async () => {
    const v = await encodeTest(pattern(777, 3), { format: 'mdmf', k: 3, n: 10 });
    const err = await readerError(5, v.shares[3]);
    expect((err as MutableShareCorruptError).field).toBe('share hash chain');
    const tooHigh = await readerError(10, v.shares[3]);
    expect((tooHigh as MutableShareCorruptError).field).toBe('prefix');
    const other = await generateRsaKeyPair();
    const key = await testKey();
    await expect(
      verifyShare(3, v.shares[3], fingerprintOf(other.publicKey), nodeCrypto),
    ).rejects.toMatchObject({
      field: 'pubkey',
      shnum: 3,
      code: 'SHARE_CORRUPT',
    });
    // A correctly signed share of the right key but under a different root hash: signature fails.
    const forged = v.shares[3].slice();
    forged[20] ^= 1;
    await expect(verifyShare(3, forged, key.fingerprint, nodeCrypto)).rejects.toMatchObject({
      field: 'signature',
    });
  });

  it('errors never carry key material', async () => {
    const key = await testKey();
    const v = await encodeTest(pattern(100, 3), { format: 'sdmf', k: 3, n: 10 });
    const bad = v.shares[0].slice();
    bad[v.header.layout.encPrivKey + 1] ^= 1;
    const header = parseHeader(0, bad);
    let message = '';
    try {
      checkEncPrivKey(0, readEncPrivKey(0, header, [{ offset: 0, bytes: bad }]), key.writeKey);
    } catch (err) {
      message = (err as Error).message;
      expect((err as MutableShareCorruptError).field).toBe('encprivkey');
    }
    expect(message).toMatch(/^share 0: encprivkey: /);
    for (const secret of [key.writeKey, key.readKey]) {
      expect(message).not.toContain(toHex(secret));
    }
  });
});
