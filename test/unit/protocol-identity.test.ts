/** Server identities, the handshake signature, lease seeds and signed announcements. */
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../core/primitives/bytes.ts';
import {
  type Announcement,
  relayRoute,
  signAnnouncement,
  verifyAnnouncement,
} from '../../core/protocol/announcement.ts';
import { decodeCbor, encodeCbor } from '../../core/protocol/cbor.ts';
import {
  boundServerList,
  decodeServerList,
  encodeServerEntry,
  encodeServerList,
  joinServerList,
  serverRoutes,
} from '../../core/protocol/grid.ts';
import { ANNOUNCEMENT_CLOCK_SKEW_MS, ANNOUNCEMENT_LIFETIME_MS } from '../../core/protocol/limits.ts';
import {
  generateKeyPair,
  ed25519Verify,
  isServerId,
  keyPairFromSecret,
  serverIdPublicKey,
  serverLeaseSeed,
  signHandshake,
  verifyHandshake,
} from '../../core/protocol/identity.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import * as nodeEd from '../../core/protocol/ed25519-node.ts';
import * as nobleEd from '../../core/protocol/ed25519-noble.ts';
import { asServerId } from '../../core/types.ts';
import { expectBytesEqual } from '../harness/bytes.ts';

const key = keyPairFromSecret(new Uint8Array(32).fill(1));

describe('ServerId', () => {
  it('is v0- + base32(public key) and gives the key back', () => {
    expect(key.serverId).toMatch(/^v0-[a-z2-7]{52}$/);
    expect(key.serverId).toBe(`v0-${base32Encode(key.publicKey)}`);
    expect(serverIdPublicKey(key.serverId)).toEqual(key.publicKey);
    expect(isServerId(key.serverId)).toBe(true);
  });

  it('gives each caller its own copy of the key (ids are checked once and remembered)', () => {
    const first = serverIdPublicKey(key.serverId);
    first.fill(0);
    expect(serverIdPublicKey(key.serverId)).toEqual(key.publicKey);
    expect(serverIdPublicKey(key.serverId)).not.toBe(serverIdPublicKey(key.serverId));
    expect(isServerId(`v0-${'a'.repeat(52)}`)).toBe(false); // still rejected when asked again
  });

  it('rejects malformed ids and small-order keys', () => {
    expect(isServerId('v0-abc')).toBe(false);
    expect(isServerId(`v1-${key.serverId.slice(3)}`)).toBe(false);
    expect(isServerId(`v0-${'a'.repeat(52)}`)).toBe(false); // all-zero key: small order
    expect(() => serverIdPublicKey(`v0-${'1'.repeat(52)}`)).toThrow(/server id/);
  });

  it('has a stable 20-byte lease seed that differs between servers', () => {
    const seed = serverLeaseSeed(key.serverId);
    expect(seed.length).toBe(20);
    expect(serverLeaseSeed(key.serverId)).toEqual(seed);
    expect(serverLeaseSeed(generateKeyPair().serverId)).not.toEqual(seed);
  });
});

describe('ed25519 verification', () => {
  // Node checks with OpenSSL, the tab with noble: both must take and refuse the same.
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  const fromLe = (b: Uint8Array) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
  const noble = (sig: Uint8Array, msg: Uint8Array, pk: Uint8Array) => {
    try {
      return ed25519.verify(sig, msg, pk, { zip215: false });
    } catch {
      return false;
    }
  };
  it('agrees with noble on good signatures and on every kind of bad one', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 511 }),
        (seed, msg, how, bit) => {
          const pk = ed25519.getPublicKey(seed);
          let sig: Uint8Array = ed25519.sign(msg, seed);
          let key: Uint8Array = pk;
          let m: Uint8Array = msg;
          if (how === 1) sig = flip(sig, bit); // any bit of R or S
          if (how === 2) m = msg.length > 0 ? flip(msg, bit % (msg.length * 8)) : new Uint8Array([1]);
          if (how === 3) key = ed25519.getPublicKey(flip(seed, bit % 256)); // another key
          if (how === 4) sig = concatBytes(sig.subarray(0, 32), le(fromLe(sig.subarray(32)) + L)); // S + L
          if (how === 5) key = flip(pk, bit % 256); // a mangled key (often no point at all)
          if (how === 6) key = le((1n << 255n) - 19n + BigInt(bit % 19)); // y at or above p
          const want = noble(sig, m, key);
          expect(ed25519Verify(sig, m, key)).toBe(want);
          if (how === 0) expect(want).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('ed25519 in Node (OpenSSL) and in the tab (noble)', () => {
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const P = (1n << 255n) - 19n;
  const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

  it('make the same public keys and signatures, and each verifies the other', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        (seed, msg) => {
          const pk = nodeEd.ed25519PublicKey(seed);
          expect(hex(pk)).toBe(hex(nobleEd.ed25519PublicKey(seed)));
          const sig = nodeEd.ed25519Sign(msg, seed);
          expect(hex(sig)).toBe(hex(nobleEd.ed25519Sign(msg, seed)));
          expect(nobleEd.ed25519Verify(sig, msg, pk)).toBe(true);
          expect(nodeEd.ed25519Verify(sig, msg, pk)).toBe(true);
          expect(nodeEd.ed25519Verify(flip(sig, msg.length % 512), msg, pk)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('take and refuse the same keys: every small-order point, non-points, non-canonical encodings', () => {
    const keys: Uint8Array[] = [];
    // The eight small-order points, as the torsion parts [L]R of random points R.
    const torsion = new Set<string>();
    for (let i = 0; torsion.size < 8 && i < 500; i++) {
      // Random bytes that name a point: one with a random torsion part (public keys have none).
      let r: InstanceType<typeof ed25519.Point>;
      try {
        r = ed25519.Point.fromBytes(crypto.getRandomValues(new Uint8Array(32)));
      } catch {
        continue;
      }
      const t = r.multiplyUnsafe(L - 1n).add(r);
      torsion.add(hex(t.toBytes()));
      // A key that is a prime-order point plus a torsion one: a point, usable.
      keys.push(r.add(t).toBytes());
    }
    expect(torsion.size).toBe(8);
    for (const t of torsion) {
      const b = Uint8Array.from(Buffer.from(t, 'hex'));
      keys.push(b, flip(b, 255)); // and with the other sign bit (for x = 0: no point)
    }
    // y from p up (non-canonical y 0..18), either sign.
    for (let y = 0n; y < 19n; y++) keys.push(le(P + y), flip(le(P + y), 255));
    // Random bytes: about half name points.
    for (let i = 0; i < 300; i++) keys.push(crypto.getRandomValues(new Uint8Array(32)));
    let usable = 0;
    for (const k of keys) {
      const want = nobleEd.isUsablePoint(k);
      expect(nodeEd.isUsablePoint(k), hex(k)).toBe(want);
      if (want) usable++;
    }
    for (const t of torsion) expect(nodeEd.isUsablePoint(Uint8Array.from(Buffer.from(t, 'hex')))).toBe(false);
    expect(usable).toBeGreaterThan(100);
    expect(usable).toBeLessThan(keys.length - 50);
  });
});

function flip(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

describe('handshake', () => {
  it('verifies only for the right key, challenge and id', () => {
    const challenge = crypto.getRandomValues(new Uint8Array(32));
    const sig = signHandshake(key, challenge);
    expect(verifyHandshake(key.serverId, challenge, sig)).toBe(true);
    const other = generateKeyPair();
    expect(verifyHandshake(other.serverId, challenge, sig)).toBe(false);
    const c2 = challenge.slice();
    c2[0] ^= 1;
    expect(verifyHandshake(key.serverId, c2, sig)).toBe(false);
    expect(verifyHandshake(asServerId(`v0-${'a'.repeat(52)}`), challenge, new Uint8Array(64))).toBe(false);
    expect(verifyHandshake(key.serverId, challenge, sig.subarray(0, 63))).toBe(false);
  });
});

describe('announcements', () => {
  const ann: Announcement = {
    serverId: key.serverId,
    nickname: 'n1',
    url: 'ws://127.0.0.1:1234/v1/storage',
    availableSpace: 5e9,
    seq: 10,
    expires: 2_000_000,
  };

  it('verify when intact and fresh', () => {
    expect(verifyAnnouncement(signAnnouncement(key, ann), 1_000_000)).toEqual(ann);
  });

  it('reject tampering, another key, expiry', () => {
    const signed = signAnnouncement(key, ann);
    const body = signed.body.slice();
    body[body.length - 1] ^= 1;
    expect(() => verifyAnnouncement({ body, signature: signed.signature }, 0)).toThrow(/signature|malformed/);
    expect(() => verifyAnnouncement(signed, 2_000_000)).toThrow(/expired/);
    const other = generateKeyPair();
    expect(() => signAnnouncement(other, ann)).toThrow(/another server/);
    // Signed by `other` but claiming `key`'s id: fails verification.
    const spoof = signAnnouncement(other, { ...ann, serverId: other.serverId });
    const spoofBody = spoof.body;
    expect(() => verifyAnnouncement({ body: signed.body, signature: spoof.signature }, 0)).toThrow(
      /bad signature/,
    );
    expect(verifyAnnouncement({ body: spoofBody, signature: spoof.signature }, 0).serverId).toBe(
      other.serverId,
    );
  });

  it('lists round-trip through the cache form, dropping bad entries', () => {
    const a = signAnnouncement(key, ann);
    const other = generateKeyPair();
    const b = signAnnouncement(other, { ...ann, serverId: other.serverId, url: null });
    const broken = { body: b.body, signature: a.signature };
    const list = decodeServerList(encodeServerList([a, broken, b]), 1_000_000);
    expect(list.map((s) => s.serverId)).toEqual([key.serverId, other.serverId]);
    expect(decodeServerList(encodeServerList([a]), 3_000_000)).toEqual([]);
    expect(decodeServerList(encodeServerList([a]), 3_000_000, true).length).toBe(1);
    expect(serverRoutes(list[0], 'http://127.0.0.1:9')).toEqual([
      ann.url,
      relayRoute('http://127.0.0.1:9', key.serverId),
    ]);
    expect(serverRoutes(list[1], 'http://127.0.0.1:9')).toEqual([
      `ws://127.0.0.1:9/v1/connect/${other.serverId}`,
    ]);
  });

  it('lists are joined from entries encoded once, byte for byte what the encoder gives', () => {
    const other = generateKeyPair();
    const one = signAnnouncement(other, { ...ann, serverId: other.serverId });
    const two = signAnnouncement(key, ann);
    // Array heads change size at 24, 256 and 65536 entries.
    for (const n of [0, 1, 23, 24, 255, 256, 300]) {
      const list = Array.from({ length: n }, (_, i) => (i % 2 ? one : two));
      const whole = encodeServerList(list);
      expectBytesEqual(joinServerList(list.map(encodeServerEntry)), whole, `joined list of ${n}`);
      expectBytesEqual(
        whole,
        encodeCbor({ t: 'servers', servers: list.map((s) => ({ body: s.body, sig: s.signature })) }),
        `list of ${n}`,
      );
      expect((decodeCbor(whole, 1 << 24) as { servers: unknown[] }).servers.length).toBe(n);
    }
  });
});

describe('boundServerList (how many servers a client tries)', () => {
  const now = 1_000_000_000;
  const server = (name: string, expiresIn: number) => ({ name, expires: now + expiresIn });

  it('keeps the servers renewed last, in list order, and all of a short list', () => {
    const list = [server('a', 60_000), server('b', 590_000), server('c', 300_000), server('d', 599_000)];
    expect(boundServerList(list, 2, now).map((s) => s.name)).toEqual(['b', 'd']);
    expect(boundServerList(list, 3, now).map((s) => s.name)).toEqual(['b', 'c', 'd']);
    expect(boundServerList(list, 4, now)).toEqual(list);
    expect(boundServerList(list, 10, now)).not.toBe(list);
    expect(boundServerList(list, 0, now)).toEqual([]);
    expect(() => boundServerList(list, -1, now)).toThrow(/whole number/);
    expect(() => boundServerList(list, 1.5, now)).toThrow(/whole number/);
  });

  it('ranks a claim of a longer life than any announcement has last, and ties by list order', () => {
    const limit = ANNOUNCEMENT_LIFETIME_MS + ANNOUNCEMENT_CLOCK_SKEW_MS;
    const list = [
      server('forever', 1000 * 365 * 24 * 3600_000),
      server('old', 10_000),
      server('edge', limit),
      server('tie1', 500_000),
      server('tie2', 500_000),
      server('past-edge', limit + 1),
    ];
    expect(boundServerList(list, 3, now).map((s) => s.name)).toEqual(['edge', 'tie1', 'tie2']);
    expect(boundServerList(list, 5, now).map((s) => s.name)).toEqual([
      'forever',
      'old',
      'edge',
      'tie1',
      'tie2',
    ]);
    // A client whose clock is an hour behind sees every expiry too far ahead: list order decides.
    expect(boundServerList(list, 2, now - 3600_000).map((s) => s.name)).toEqual(['forever', 'old']);
  });

  it('bounds what decodeServerList gives', () => {
    const keys = Array.from({ length: 5 }, () => generateKeyPair());
    const signed = keys.map((k, i) =>
      signAnnouncement(k, {
        serverId: k.serverId,
        nickname: `s${i}`,
        url: null,
        availableSpace: 1,
        seq: 1,
        expires: 1_000_000 + i * 1000,
      }),
    );
    const servers = decodeServerList(encodeServerList(signed), 999_000);
    const kept = boundServerList(servers, 2, 999_000);
    expect(kept.map((s) => s.serverId)).toEqual([keys[3].serverId, keys[4].serverId]);
  });
});
