import { createCipheriv, createHash } from 'node:crypto';
import { ctr } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { pattern } from '../harness/bytes.ts';
import { fromHex, toHex, utf8 } from '../../core/primitives/bytes.ts';
import { ctrCounterBlock } from '../../core/primitives/crypto-backend.ts';
import { aesCtrSync as nodeAesCtrSync, nodeCrypto } from '../../core/primitives/crypto-node.ts';
import {
  webCrypto,
  webCryptoBackend,
  aesCtrSync as webAesCtrSync,
} from '../../core/primitives/crypto-web.ts';
import * as nodeSha from '../../core/primitives/sha256-node.ts';
import * as nobleSha from '../../core/primitives/sha256-noble.ts';
import { TAG_BLOCK, TAG_MERKLE_EMPTY_LEAF } from '../../core/primitives/tags.ts';
import {
  sha256d,
  tagPrefix,
  taggedHash,
  taggedHasher,
  taggedPairHash,
} from '../../core/primitives/tagged-hash.ts';
import { asAesKey } from '../../core/types.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();

describe('tagged hashes', () => {
  it('match the reference known answers', () => {
    expect(toHex(taggedHash('tag', utf8('value')))).toBe(
      '64b0cafcfe5f99653ae63b644191c890600965073ef48bf9b24f9e623c940229',
    );
    expect(toHex(taggedHash(TAG_MERKLE_EMPTY_LEAF, utf8('0')))).toBe(
      'e0024730188e2de564a697cc2987407b24ae7eb6b880190c1a0337a5740e527a',
    );
  });

  it('are SHA-256d of netstring(tag) || value, truncated to the leading bytes', () => {
    const v = pattern(100);
    const full = sha(sha(Buffer.concat([Buffer.from('3:abc,'), v])));
    expect(toHex(taggedHash('abc', v))).toBe(full.toString('hex'));
    expect(toHex(taggedHash('abc', v, 16))).toBe(full.subarray(0, 16).toString('hex'));
    expect(toHex(sha256d(v))).toBe(sha(sha(v)).toString('hex'));
  });

  it('pair hash wraps both values in netstrings', () => {
    const a = pattern(32, 2);
    const b = pattern(5, 3);
    const want = sha(
      sha(Buffer.concat([Buffer.from('1:t,32:'), a, Buffer.from(',5:'), b, Buffer.from(',')])),
    );
    expect(toHex(taggedPairHash('t', a, b))).toBe(want.toString('hex'));
  });

  it('streaming equals one-shot for every split point', () => {
    const v = pattern(70);
    const one = toHex(taggedHash(TAG_BLOCK, v));
    for (let cut = 0; cut <= v.length; cut++) {
      const h = taggedHasher(TAG_BLOCK);
      h.update(v.subarray(0, cut));
      h.update(v.subarray(cut));
      expect(toHex(h.digest())).toBe(one);
    }
  });
});

describe('small-input SHA-256, Node and browser', () => {
  it('agree with each other and with node:crypto, one-shot, doubled and streamed', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 100, 1000, 70_000]) {
      const v = pattern(n, n);
      const want = sha(v).toString('hex');
      for (const impl of [nodeSha, nobleSha]) {
        const one = impl.sha256(v);
        expect(one).not.toBeInstanceOf(Buffer); // a Buffer's slice() is a view, not a copy
        expect(toHex(one)).toBe(want);
        expect(toHex(impl.sha256d(v))).toBe(sha(sha(v)).toString('hex'));
        const s = impl.createSha256();
        s.update(v.subarray(0, n >> 1));
        s.update(v.subarray(n >> 1));
        expect(toHex(s.digest())).toBe(want);
      }
    }
  });

  it('give digests that own their bytes: a copy is not a view of anything else', () => {
    const a = nodeSha.sha256(pattern(10));
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(32);
    expect(nodeSha.sha256d(pattern(10)).buffer.byteLength).toBe(32);
    const cut = a.slice(0, 16);
    cut[0] ^= 1;
    expect(cut[0]).not.toBe(a[0]);
  });
});

describe('AES-128-CTR', () => {
  it('counter block is the big-endian 16-byte block number', () => {
    expect(toHex(ctrCounterBlock(0))).toBe('00'.repeat(16));
    expect(toHex(ctrCounterBlock(16 * 0x0102 + 5))).toBe(`${'00'.repeat(14)}0102`);
    expect(toHex(ctrCounterBlock(2 ** 40 * 16))).toBe(`${'00'.repeat(10)}010000000000`);
    expect(() => ctrCounterBlock(-1)).toThrow(/non-negative/);
  });

  it('matches noble ctr with a zero counter (FIPS key), whole and from any offset', async () => {
    const key = asAesKey(fromHex('2b7e151628aed2a6abf7158809cf4f3c'));
    const data = pattern(300, 7);
    const want = ctr(key, new Uint8Array(16)).encrypt(data);
    for (const backend of [nodeCrypto, webCrypto]) {
      expect(toHex(await backend.aesCtr(key, 0, data))).toBe(toHex(want));
      for (const off of [1, 15, 16, 17, 100, 255]) {
        // A view with bytes before it in its buffer (WebCrypto's block start read from
        // them), and a buffer of its own (laid out behind zeros instead).
        expect(toHex(await backend.aesCtr(key, off, data.subarray(off)))).toBe(toHex(want.subarray(off)));
        expect(toHex(await backend.aesCtr(key, off, data.slice(off)))).toBe(toHex(want.subarray(off)));
      }
    }
  });

  it('the synchronous form (both runtimes) gives the same bytes, whole and from any offset', () => {
    const key = asAesKey(fromHex('2b7e151628aed2a6abf7158809cf4f3c'));
    const data = pattern(300, 7);
    const want = ctr(key, new Uint8Array(16)).encrypt(data);
    for (const aesCtrSync of [nodeAesCtrSync, webAesCtrSync]) {
      expect(toHex(aesCtrSync(key, 0, data))).toBe(toHex(want));
      for (const off of [1, 15, 16, 17, 100, 255]) {
        expect(toHex(aesCtrSync(key, off, data.subarray(off)))).toBe(toHex(want.subarray(off)));
      }
      expect(() => aesCtrSync(asAesKey(new Uint8Array(15)), 0, data)).toThrow(/16 bytes/);
    }
  });

  it('gives the same bytes for calls that follow on (one running cipher) as for calls that do not', () => {
    // Node's form goes on with the last call's cipher when a call starts where it stopped
    // with the same key: mid-block ends, a second key between, a jump back and a key
    // changed in place must all still give exactly the keystream at their offsets.
    const keyA = asAesKey(fromHex('2b7e151628aed2a6abf7158809cf4f3c'));
    const keyB = asAesKey(fromHex('000102030405060708090a0b0c0d0e0f'));
    const data = pattern(1000, 11);
    const wantA = ctr(keyA, new Uint8Array(16)).encrypt(data);
    const wantB = ctr(keyB, new Uint8Array(16)).encrypt(data);
    const cuts = [0, 7, 16, 33, 33, 200, 517, 1000];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const [s, e] = [cuts[i], cuts[i + 1]];
      expect(toHex(nodeAesCtrSync(keyA, s, data.subarray(s, e)))).toBe(toHex(wantA.subarray(s, e)));
      // Another key at the same offset in between: its own keystream, and A goes on after it.
      if (i === 2)
        expect(toHex(nodeAesCtrSync(keyB, s, data.subarray(s, e)))).toBe(toHex(wantB.subarray(s, e)));
    }
    expect(toHex(nodeAesCtrSync(keyA, 40, data.subarray(40, 90)))).toBe(toHex(wantA.subarray(40, 90)));
    const mutable = Uint8Array.from(keyA);
    expect(toHex(nodeAesCtrSync(asAesKey(mutable), 90, data.subarray(90, 120)))).toBe(
      toHex(wantA.subarray(90, 120)),
    );
    mutable.set(keyB);
    expect(toHex(nodeAesCtrSync(asAesKey(mutable), 120, data.subarray(120, 160)))).toBe(
      toHex(wantB.subarray(120, 160)),
    );
  });

  it('rejects keys that are not 16 bytes', async () => {
    for (const backend of [nodeCrypto, webCrypto]) {
      await expect(backend.aesCtr(asAesKey(new Uint8Array(15)), 0, new Uint8Array(1))).rejects.toThrow(
        /16 bytes/,
      );
    }
  });

  it('node:crypto direct check of the zero-IV convention', async () => {
    const key = asAesKey(pattern(16, 9));
    const data = pattern(1000, 4);
    const c = createCipheriv('aes-128-ctr', key, new Uint8Array(16));
    expect(toHex(await nodeCrypto.aesCtr(key, 0, data))).toBe(
      Buffer.concat([c.update(data), c.final()]).toString('hex'),
    );
  });
});

describe('crypto backends agree', () => {
  it('taggedHashes over a batch equals the pure tagged hash', async () => {
    const blocks = [0, 1, 55, 64, 4096, 43691].map((n, i) => pattern(n, i + 1));
    const prefix = tagPrefix(TAG_BLOCK);
    const want = blocks.map((b) => toHex(taggedHash(TAG_BLOCK, b)));
    for (const backend of [nodeCrypto, webCrypto]) {
      expect((await backend.taggedHashes(prefix, blocks)).map(toHex)).toEqual(want);
      // The same with the prefix laid out in front of each block, views into one buffer.
      const laid = blocks.map((b) => {
        const buf = new Uint8Array(8 + prefix.length + b.length);
        buf.set(prefix, 8);
        buf.set(b, 8 + prefix.length);
        return buf.subarray(8);
      });
      expect((await backend.sha256dMany(laid)).map(toHex)).toEqual(want);
    }
  });

  it('streaming hashers agree with each other and with one-shot', async () => {
    const data = pattern(200_000, 3);
    const prefix = tagPrefix('allmydata_crypttext_v1');
    const want = toHex(taggedHash('allmydata_crypttext_v1', data));
    const oneShot = webCryptoBackend({ oneShotHashLimit: 1 << 20 });
    for (const backend of [nodeCrypto, webCrypto, oneShot]) {
      // Without a length: streamed; with one: the one-shot web backend collects and hashes once.
      for (const totalLength of [undefined, data.length]) {
        const h = await backend.createHasher(prefix, totalLength);
        for (let off = 0; off < data.length; off += 65_537) h.update(data.subarray(off, off + 65_537));
        expect(toHex(await h.digest())).toBe(want);
      }
    }
  });

  it('a collecting hasher refuses more bytes than it was promised', async () => {
    const oneShot = webCryptoBackend({ oneShotHashLimit: 1 << 20 });
    const h = await oneShot.createHasher(tagPrefix('allmydata_crypttext_v1'), 10);
    h.update(new Uint8Array(6));
    expect(() => h.update(new Uint8Array(5))).toThrow(/more than the 10 bytes/);
  });
});
