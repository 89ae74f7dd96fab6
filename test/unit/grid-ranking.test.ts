/**
 * The download's share choice (core/grid/ranking.ts): speed first, primary shares among
 * comparable servers, distinct servers, sticking with the shares in use until one proves
 * clearly slow, and read timing that does not charge a server for waiting behind itself.
 */
import { describe, expect, it } from 'vitest';
import type { ChkCap } from '../../core/caps/immutable.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { readChk } from '../../core/immutable/decoder.ts';
import { encodeToShares, memoryShareReader } from '../../core/immutable/memory.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import type { AesKey } from '../../core/types.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import {
  addRead,
  COST_SAMPLES,
  chooseShares,
  DEFAULT_RANKING,
  MIN_SAMPLE_BYTES,
  measuredCost,
  pickHolder,
  ReadMeter,
  type ReadSample,
  reference,
  type ShareOption,
  type Speed,
  tierOf,
} from '../../core/grid/ranking.ts';

const MiB = 1024 * 1024;
/** A server that answered the share query in `rttMs` and served `n` reads of 1 MiB at `msPerMiB`. */
function speed(rttMs: number, msPerMiB?: number, n = 3): Speed {
  const reads: ReadSample[] = msPerMiB === undefined ? [] : Array(n).fill({ ms: msPerMiB, bytes: MiB });
  return { rttMs, reads };
}
/** One share per server, server `s<shnum>`. */
function oneEach(speeds: Speed[]): ShareOption[] {
  return speeds.map((sp, shnum) => ({ shnum, server: `s${shnum}`, speed: sp }));
}

describe('measured speed', () => {
  it('is the recent bytes over their time, trusted after minSamples reads, floored', () => {
    expect(measuredCost(speed(5, 400, 2))).toBeUndefined();
    expect(measuredCost(speed(5, 400, 3))).toBe(400);
    // Three reads, but too few bytes to tell speed from latency.
    expect(measuredCost({ reads: Array(3).fill({ ms: 40, bytes: 100 * 1024 }) })).toBeUndefined();
    // Byte-weighted: a small slow read (latency) weighs little against big fast ones.
    const mixed: Speed = {
      reads: [
        { ms: 20, bytes: 32 * 1024 },
        { ms: 100, bytes: MiB },
        { ms: 100, bytes: MiB },
      ],
    };
    expect(measuredCost(mixed)).toBeCloseTo((220 * MiB) / (2 * MiB + 32 * 1024), 6);
    expect(measuredCost(speed(5, 1))).toBe(DEFAULT_RANKING.costFloor);
  });

  it('keeps the newest COST_SAMPLES reads', () => {
    let reads: ReadSample[] = [];
    for (let i = 0; i < COST_SAMPLES + 3; i++) reads = addRead(reads, { ms: i, bytes: MiB });
    expect(reads.map((r) => r.ms)).toEqual(Array.from({ length: COST_SAMPLES }, (_, i) => i + 3));
  });

  it('charges a read only for the time after the previous answer from the same server', () => {
    const m = new ReadMeter();
    // Three windows asked at once from a server sending 1 MiB per 100 ms.
    m.finished(0, 100, MiB);
    m.finished(0, 200, MiB);
    m.finished(1, 300, MiB);
    expect(measuredCost({ reads: m.reads })).toBe(100);
    // Idle, then asked again: from the request, not from the last answer.
    m.finished(1000, 1100, MiB);
    expect(m.reads.at(-1)).toEqual({ ms: 100, bytes: MiB });
    // Small reads (headers, hash trees) are not samples, but still end the server's busy time.
    m.finished(2000, 2050, 100);
    m.finished(2000, 2060, MIN_SAMPLE_BYTES);
    expect(m.reads.length).toBe(5);
    expect(m.reads.at(-1)).toEqual({ ms: 10, bytes: MIN_SAMPLE_BYTES });
  });

  it('tiers: reads outrank the share-query answer; clearly slow only by the factor', () => {
    const ref = reference([speed(5, 100), speed(8)]);
    expect(ref).toEqual({ cost: 100, rttMs: 5 });
    expect(tierOf(speed(5, 390), ref)).toBe(0); // under 4x
    expect(tierOf(speed(5, 500), ref)).toBe(2);
    expect(tierOf(speed(400), ref)).toBe(1); // a far server, not yet read from
    expect(tierOf(speed(400, 100), ref)).toBe(0); // ...whose reads turned out fast
    expect(tierOf(speed(5 * 3 + 20), ref)).toBe(0); // within the slack
    expect(tierOf(undefined, ref)).toBe(3);
  });
});

describe('choosing shares', () => {
  it('all comparable: primary shares first (their decoding is a copy)', () => {
    const order = chooseShares(oneEach(Array.from({ length: 10 }, (_, i) => speed(10 - i))), 3, []);
    expect(order.slice(0, 3).sort()).toEqual([0, 1, 2]);
    expect(order).toHaveLength(10);
  });

  it('speed first: a primary share on a clearly slow server gives way to the fastest others', () => {
    const speeds = Array.from({ length: 10 }, (_, i) => speed(5, 60 + i));
    speeds[0] = speed(5, 900);
    speeds[1] = speed(300); // answered the share query late: far away
    const order = chooseShares(oneEach(speeds), 3, []);
    expect(order.slice(0, 3)).toEqual([2, 3, 4]);
    // The slow ones stay available, last.
    expect(order.slice(-2)).toEqual([1, 0]);
  });

  it('a share whose holder is not known yet comes after every share with a holder', () => {
    const options: ShareOption[] = [{ shnum: 0 }, ...oneEach([speed(5), speed(5), speed(5)]).slice(1)];
    options.push({ shnum: 3, server: 's3', speed: speed(6) });
    expect(chooseShares(options, 3, []).slice(0, 3)).toEqual([1, 2, 3]);
  });

  it('prefers shares on distinct servers', () => {
    const sp = speed(5);
    const options: ShareOption[] = [
      { shnum: 0, server: 'a', speed: sp },
      { shnum: 1, server: 'a', speed: sp },
      { shnum: 2, server: 'b', speed: sp },
      { shnum: 3, server: 'c', speed: sp },
    ];
    expect(chooseShares(options, 3, []).slice(0, 3)).toEqual([0, 2, 3]);
    // Only two servers: the third share must share one.
    expect(chooseShares(options.slice(0, 3), 3, []).slice(0, 3).sort()).toEqual([0, 1, 2]);
  });

  it('keeps the shares in use while they stay comparable, even if others look a bit faster', () => {
    const speeds = Array.from({ length: 6 }, () => speed(5, 50));
    speeds[0] = speed(5, 150);
    speeds[1] = speed(5, 180);
    expect(chooseShares(oneEach(speeds), 3, [0, 1, 2]).slice(0, 3).sort()).toEqual([0, 1, 2]);
    // Unmeasured members are kept too (nothing says they are slow).
    expect(chooseShares(oneEach(speeds), 3, [4, 5, 3]).slice(0, 3).sort()).toEqual([3, 4, 5]);
  });

  it('replaces members whose reads proved clearly slow by unused shares on other servers', () => {
    const speeds = Array.from({ length: 10 }, () => speed(5));
    speeds[2] = speed(5, 60);
    speeds[0] = speed(5, 1000);
    speeds[1] = speed(5, 800);
    const order = chooseShares(oneEach(speeds), 3, [0, 1, 2]);
    expect(order.slice(0, 3).sort()).toEqual([2, 3, 4]);
    // Not onto a share of a server already in use, nor onto one known to be slow.
    const shared: ShareOption[] = [
      { shnum: 0, server: 'slow', speed: speed(5, 1000) },
      { shnum: 1, server: 'a', speed: speed(5, 60) },
      { shnum: 2, server: 'b', speed: speed(5, 60) },
      { shnum: 3, server: 'a', speed: speed(5, 60) },
      { shnum: 4, server: 'c', speed: speed(5, 900) },
    ];
    expect(chooseShares(shared, 3, [0, 1, 2]).slice(0, 3)).toEqual([1, 2, 0]);
    shared.push({ shnum: 5, server: 'd', speed: speed(5) });
    expect(chooseShares(shared, 3, [0, 1, 2]).slice(0, 3)).toEqual([1, 2, 5]);
  });

  it('fills up after a share is given up on, and returns every candidate once', () => {
    const speeds = Array.from({ length: 5 }, () => speed(5, 60));
    const options = oneEach(speeds).filter((o) => o.shnum !== 1);
    const order = chooseShares(options, 3, [0, 1, 2]);
    expect(order.slice(0, 3)).toEqual([0, 2, 3]);
    expect([...order].sort()).toEqual([0, 2, 3, 4]);
  });
});

describe('choosing a holder of one share', () => {
  it('stays with the current holder unless another is in a better tier', () => {
    const ref = reference([speed(5, 60), speed(5, 70), speed(5, 900)]);
    const holders = [
      { server: 'a', speed: speed(5, 60) },
      { server: 'b', speed: speed(5, 70) },
      { server: 'c', speed: speed(5, 900) },
    ];
    expect(pickHolder(holders, ref, undefined)).toBe(0);
    expect(pickHolder(holders, ref, 'b')).toBe(1);
    expect(pickHolder(holders, ref, 'c')).toBe(0);
    expect(pickHolder([], ref, undefined)).toBe(-1);
  });
});

describe("the decoder follows the reader's ranking", () => {
  it('reads blocks only from the ranked shares, re-asked every segment, and still decodes', async () => {
    const codec = await loadCodec();
    const tools = { backend: nodeCrypto, codec };
    const data = pattern(300_000, 21);
    const { cap, shares } = await encodeToShares(
      bytesSource(data),
      { k: 3, happy: 7, n: 10, maxSegmentSize: 24 * 1024 },
      new Uint8Array(16).fill(9) as AesKey,
      tools,
    );
    const inner = memoryShareReader(new Map(shares.map((b, i) => [i, b])));
    const readFrom = new Set<number>();
    let asked = 0;
    // Secondary shares at first; from the fifth ask on, shares 0, 8, 9 (a switch mid-file).
    const order = (c: readonly number[]) =>
      (++asked < 5 ? [7, 5, 6] : [9, 0, 8]).filter((s) => c.includes(s));
    const got = await readChk(
      cap as ChkCap,
      {
        shnums: inner.shnums,
        rank: (candidates, k) => {
          expect(k).toBe(3);
          return order(candidates);
        },
        read: (shnum, offset, length) => {
          readFrom.add(shnum);
          return inner.read(shnum, offset, length);
        },
      },
      tools,
    );
    expectBytesEqual(got, data, 'decoded file');
    expect([...readFrom].sort((a, b) => a - b)).toEqual([0, 5, 6, 7, 8, 9]);
    expect(asked).toBeGreaterThan(10); // once per segment (13 of them) and once to open
  });
});
