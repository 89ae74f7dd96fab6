import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { happinessOf, maximumMatching, unhappinessMessage } from '../../core/grid/happiness.ts';
import { UploadUnhappinessError } from '../../core/grid/errors.ts';
import { permutationSeed, permuteServers } from '../../core/grid/permute.ts';
import { placeShares, serverSharesOf } from '../../core/grid/placement.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { type ServerId, type ShareNum, asServerId, asShareNum, asStorageIndex } from '../../core/types.ts';

const sid = (s: string) => asServerId(s);
const sh = (n: number) => asShareNum(n);
const v0 = (key: Uint8Array) => asServerId(`v0-${base32Encode(key)}`);

function sha1Hex(...parts: Uint8Array[]): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

describe('permutation (§6.1)', () => {
  it('orders v0- servers by SHA-1(SI || decoded key), independently recomputed with node:crypto', () => {
    const si = asStorageIndex(Uint8Array.from({ length: 16 }, (_, i) => i * 7));
    const keys = Array.from({ length: 12 }, (_, j) =>
      Uint8Array.from({ length: 32 }, (_, i) => (i * 31 + j * 97) & 0xff),
    );
    const servers = keys.map((k) => ({ serverId: v0(k), key: k }));
    const expected = [...servers]
      .sort((a, b) => (sha1Hex(si, a.key) < sha1Hex(si, b.key) ? -1 : 1))
      .map((s) => s.serverId);
    expect(permuteServers(si, servers).map((s) => s.serverId)).toEqual(expected);
  });

  it('seeds: announced seed, then the v0- key, then SHA-256 of the id text', () => {
    const key = new Uint8Array(32).fill(9);
    expect(permutationSeed(v0(key))).toEqual(key);
    expect(permutationSeed(v0(key), new Uint8Array([1, 2]))).toEqual(new Uint8Array([1, 2]));
    const other = sid('some-other-server');
    expect(Buffer.from(permutationSeed(other)).toString('hex')).toBe(
      createHash('sha256').update('some-other-server').digest('hex'),
    );
  });

  it('puts preferred servers first, and does not depend on input order', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
        (siBytes, names, flags) => {
          const si = asStorageIndex(siBytes);
          const servers = names.map((n, i) => ({ serverId: sid(n), preferred: flags[i] }));
          const a = permuteServers(si, servers).map((s) => s.serverId);
          const b = permuteServers(si, [...servers].reverse()).map((s) => s.serverId);
          expect(a).toEqual(b);
          expect([...a].sort()).toEqual([...names].sort());
          const order = a.map((id) => servers.find((s) => s.serverId === id)?.preferred === true);
          // true (preferred) entries all come before false ones
          expect(order).toEqual([...order].sort((x, y) => Number(y) - Number(x)));
        },
      ),
    );
  });

  it('gives different storage indexes different orders', () => {
    const servers = Array.from({ length: 10 }, (_, i) => ({ serverId: sid(`server-${i}`) }));
    const orders = new Set<string>();
    for (let i = 0; i < 20; i++) {
      orders.add(
        permuteServers(asStorageIndex(new Uint8Array(16).fill(i)), servers)
          .map((s) => s.serverId)
          .join(),
      );
    }
    expect(orders.size).toBeGreaterThan(15);
  });
});

// Brute-force maximum matching for tiny graphs: an independent oracle.
function bruteMatching(edges: Map<ServerId, ShareNum[]>): number {
  const servers = [...edges.keys()];
  const go = (i: number, used: Set<number>): number => {
    if (i === servers.length) return 0;
    let best = go(i + 1, used);
    for (const s of edges.get(servers[i])!) {
      if (used.has(s)) continue;
      used.add(s);
      best = Math.max(best, 1 + go(i + 1, used));
      used.delete(s);
    }
    return best;
  };
  return go(0, new Set());
}

const graphArb = fc
  .array(fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 5 }), { maxLength: 7 })
  .map((rows) => new Map(rows.map((shares, i) => [sid(`s${i}`), shares.map(sh)])));

describe('servers-of-happiness (§6.2)', () => {
  it('matches the reference example', () => {
    const m = new Map([
      [sid('s1'), [1, 2, 3, 4].map(sh)],
      [sid('s2'), [sh(6)]],
      [sid('s3'), [sh(3)]],
      [sid('s4'), [sh(4)]],
      [sid('s5'), [sh(2)]],
    ]);
    expect(happinessOf(m)).toBe(5);
  });

  it('is a valid matching of maximum size (brute-force oracle)', () => {
    fc.assert(
      fc.property(graphArb, (g) => {
        const matching = maximumMatching(g);
        const servers = new Set<ServerId>();
        for (const [share, server] of matching) {
          expect(g.get(server)).toContain(share);
          expect(servers.has(server)).toBe(false);
          servers.add(server);
        }
        expect(matching.size).toBe(bruteMatching(g));
      }),
    );
  });

  it('words the failure with the counts', () => {
    const few = unhappinessMessage({
      serversFound: 4,
      serversWithShares: 4,
      sharesPlaced: 10,
      happiness: 4,
      k: 3,
      happy: 7,
      n: 10,
    });
    expect(few).toMatch(/found only 4 storage server/);
    expect(few).toMatch(/happy=7/);
    const err = new UploadUnhappinessError({
      serversFound: 10,
      serversWithShares: 5,
      sharesPlaced: 10,
      happiness: 5,
      k: 3,
      happy: 7,
      n: 10,
    });
    expect(err.code).toBe('UNHAPPY');
    expect(err.message).toMatch(/found 10 storage server.*only 5 of them accepted shares/);
  });
});

describe('upload placement (§6.3)', () => {
  const shares = (n: number) => Array.from({ length: n }, (_, i) => sh(i));

  it('spreads a fresh file one share per server in permuted order, then doubles up evenly', () => {
    const ten = Array.from({ length: 10 }, (_, i) => sid(`w${i}`));
    const r = placeShares({ shares: shares(10), writable: ten, readOnly: [], existing: new Map() });
    expect(r.happiness).toBe(10);
    expect([...r.placement]).toEqual(ten.map((s, i) => [sh(i), s]));

    const seven = ten.slice(0, 7);
    const r7 = placeShares({ shares: shares(10), writable: seven, readOnly: [], existing: new Map() });
    expect(r7.happiness).toBe(7);
    const load = [...serverSharesOf(r7.placement).values()].map((s) => s.size);
    expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(1);
  });

  it('keeps shares where they already are', () => {
    const existing = new Map([
      [sid('ro'), [sh(3)]],
      [sid('w1'), [sh(5)]],
    ]);
    const r = placeShares({
      shares: shares(6),
      writable: [sid('w0'), sid('w1'), sid('w2')],
      readOnly: [sid('ro')],
      existing,
    });
    expect(r.placement.get(sh(3))).toBe('ro');
    expect(r.placement.get(sh(5))).toBe('w1');
    expect(r.happiness).toBe(4);
  });

  const inputArb = fc
    .record({
      n: fc.integer({ min: 1, max: 12 }),
      writable: fc.integer({ min: 0, max: 8 }),
      readOnly: fc.integer({ min: 0, max: 5 }),
      held: fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 11 })), {
        maxLength: 20,
      }),
    })
    .map(({ n, writable, readOnly, held }) => {
      const w = Array.from({ length: writable }, (_, i) => sid(`w${i}`));
      const ro = Array.from({ length: readOnly }, (_, i) => sid(`r${i}`));
      const all = [...w, ...ro];
      const existing = new Map<ServerId, ShareNum[]>();
      if (all.length > 0) {
        for (const [server, share] of held) {
          if (share >= n) continue;
          const s = all[server % all.length];
          const list = existing.get(s) ?? [];
          if (!list.includes(sh(share))) list.push(sh(share));
          existing.set(s, list);
        }
      }
      return { shares: shares(n), writable: w, readOnly: ro, existing };
    });

  it('reaches the best happiness possible and places every share when any server is writable', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = placeShares(input);
        // Best possible: a matching over writable × every share ∪ what servers already hold.
        const possible = new Map<ServerId, ShareNum[]>();
        for (const w of input.writable) possible.set(w, [...input.shares]);
        for (const [s, held] of input.existing) if (!possible.has(s)) possible.set(s, [...held]);
        expect(r.happiness).toBe(happinessOf(possible));
        if (input.writable.length > 0) expect(r.placement.size).toBe(input.shares.length);
        for (const [share, server] of r.placement) {
          const ok = input.writable.includes(server) || (input.existing.get(server) ?? []).includes(share);
          expect(ok).toBe(true);
        }
      }),
    );
  });
});
