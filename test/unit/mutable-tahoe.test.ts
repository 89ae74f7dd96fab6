/**
 * Byte-exactness against Tahoe-LAFS: shares that Tahoe's own layout code built
 * (test/vectors/tahoe-mutable-shares.json, see its README) must come out of encodeMutable
 * byte for byte given the same key, salts and (fixed) signature, and Tahoe's shares must
 * pass this code's parser and hash checks.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectBytesEqual } from '../harness/bytes.ts';
import { decodeRange } from '../../core/mutable/decode.ts';
import { parseHeader, readSegment, readVerificationMaterial } from '../../core/mutable/layout.ts';
import {
  checkPubkey,
  checkSegment,
  checkShareHashes,
  type VerifiedShare,
} from '../../core/mutable/verify.ts';
import { fromHex, toHex } from '../../core/primitives/bytes.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { encodeTest, saltsFrom, testKey, tools } from './mutable-harness.ts';

interface Case {
  format: 'sdmf' | 'mdmf';
  k: number;
  n: number;
  length: number;
  seqnum: number;
  prefix: string;
  salts: string[];
  fingerprint: string;
  whole: string[];
  sha256: string[];
  lengths: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../vectors/tahoe-mutable-shares.json', import.meta.url), 'utf8'),
) as { signature: string; cases: Case[] };

const plaintext = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 7 + 3) % 251);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe("Tahoe's own SDMF and MDMF shares", () => {
  it('the fixture covers both formats, empty files, 1-of-1, 71-of-255 and several segments', () => {
    const names = fixture.cases.map((c) => `${c.format} ${c.k}/${c.n} ${c.length}`);
    expect(names).toContain('sdmf 3/10 0');
    expect(names).toContain('mdmf 3/10 0');
    expect(names).toContain('mdmf 3/10 393224');
    expect(fixture.cases.some((c) => c.k === 71 && c.n === 255)).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`${c.format} ${c.k}-of-${c.n}, ${c.length} bytes: encodeMutable gives Tahoe's bytes`, async () => {
      const key = await testKey();
      expect(toHex(key.fingerprint)).toBe(c.fingerprint);
      const signature = fromHex(fixture.signature);
      const v = await encodeTest(plaintext(c.length), {
        format: c.format,
        k: c.k,
        n: c.n,
        seqnum: c.seqnum,
        signer: { sign: async () => signature },
        random: saltsFrom(c.salts.map(fromHex)),
      });
      expect(toHex(v.prefixBytes)).toBe(c.prefix);
      c.whole.forEach((hex, sh) => {
        expectBytesEqual(v.shares[sh], fromHex(hex), `share ${sh}`);
      });
      expect(v.shares.map((s) => s.length)).toEqual(c.lengths);
      expect(v.shares.map(sha256)).toEqual(c.sha256);
    });
  }

  it("Tahoe's shares pass this code's parser, key and hash checks, and decode", async () => {
    const key = await testKey();
    let decoded = 0;
    for (const c of fixture.cases.filter((x) => x.whole.length > 0)) {
      const verified: VerifiedShare[] = c.whole.map((hex, sh) => {
        const share = fromHex(hex);
        const header = parseHeader(sh, share);
        const pieces = [{ offset: 0, bytes: share }];
        const m = readVerificationMaterial(sh, header, pieces);
        checkPubkey(sh, m.pubkey, key.fingerprint);
        const leaves = checkShareHashes(sh, header, m.chain, m.blockHashTree);
        const segments = Array.from({ length: header.prefix.numSegments }, (_, s) =>
          readSegment(sh, header, s, pieces),
        );
        return {
          shnum: sh,
          header,
          pubkey: m.pubkey,
          signature: m.signature,
          leaves,
          blockHashTree: m.blockHashTree,
          segments,
        };
      });
      for (const vs of verified) {
        for (let s = 0; s < vs.segments.length; s++) {
          await checkSegment(vs.shnum, vs.header, s, vs.leaves, vs.segments[s], nodeCrypto);
        }
      }
      if (verified.length < c.k) continue;
      decoded++;
      const got = await decodeRange(verified.slice(0, c.k), key.readKey, await tools());
      expect(toHex(got)).toBe(toHex(plaintext(c.length)));
    }
    expect(decoded).toBeGreaterThanOrEqual(2);
  });
});
