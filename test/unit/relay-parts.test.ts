/** The relay's pure parts, on injected clocks: token buckets, the server memory, the throttled log. */
import { describe, expect, it } from 'vitest';
import * as L from '../../core/protocol/limits.ts';
import {
  decodeEnvelope,
  EnvelopeKind,
  encodeEnvelope,
  encodeEnvelopeInPlace,
} from '../../core/protocol/relay-envelope.ts';
import { asServerId } from '../../core/types.ts';
import { DEFAULT_RELAY_LIMITS, relayLimits } from '../../relay/limits.ts';
import { ThrottledLog } from '../../relay/log-throttle.ts';
import { TokenBucket } from '../../relay/rate-limit.ts';
import { ServerMemory } from '../../relay/server-memory.ts';

function clock(t = 0) {
  return { now: () => t, set: (v: number) => (t = v) };
}

describe('TokenBucket', () => {
  it('allows a burst, then the pace, and says when the next token comes', () => {
    const c = clock();
    const b = new TokenBucket({ burst: 3, perSecond: 2 }, c.now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    expect(b.msUntilToken()).toBe(500);
    c.set(250);
    expect(b.take()).toBe(false);
    expect(b.msUntilToken()).toBe(250);
    c.set(500);
    expect([b.take(), b.take()]).toEqual([true, false]);
    // Never more than the burst, however long it rests.
    c.set(1_000_000);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });

  it('gains nothing from a clock stepping back, and a zero pace never refills', () => {
    const c = clock(10_000);
    const b = new TokenBucket({ burst: 1, perSecond: 1 }, c.now);
    expect(b.take()).toBe(true);
    c.set(0);
    expect(b.take()).toBe(false);
    c.set(999);
    expect(b.take()).toBe(false);
    c.set(1000);
    expect(b.take()).toBe(true);
    const none = new TokenBucket({ burst: 1, perSecond: 0 }, c.now);
    expect(none.take()).toBe(true);
    expect(none.msUntilToken()).toBe(Number.POSITIVE_INFINITY);
    expect(() => new TokenBucket({ burst: 0, perSecond: 1 })).toThrow(RangeError);
  });
});

describe('ServerMemory', () => {
  const a = asServerId('v0-a');
  const b = asServerId('v0-b');

  it('keeps the highest seq and tenure, and forgets only unlisted servers past their time', () => {
    const m = new ServerMemory(2);
    m.accepted(a, 5, 1000, 0);
    m.accepted(a, 3, 900, 100);
    expect(m.get(a)).toMatchObject({ seq: 5, until: 1000, listedSince: 0 });
    expect(m.tenure(a, 400)).toBe(400);
    m.unlisted(a, 500);
    expect(m.tenure(a, 10_000)).toBe(500);
    m.accepted(b, 1, 600, 0);
    expect(m.isFull()).toBe(true);
    expect(() => m.accepted(asServerId('v0-c'), 1, 1, 0)).toThrow(/full/);
    // b is still listed: kept past its time; a is not, and goes at 1000.
    expect(m.sweep(999)).toBe(0);
    expect(m.sweep(1000)).toBe(1);
    expect(m.get(a)).toBeUndefined();
    expect(m.get(b)).toBeDefined();
    expect(m.tenure(a, 0)).toBe(0);
  });
});

describe('relay limits', () => {
  it('defaults make the server memory unreachable under the newcomer pace', () => {
    const d = DEFAULT_RELAY_LIMITS;
    // Records live at most an announcement's life plus twice the skew after their last acceptance.
    const recordLifeS = (L.ANNOUNCEMENT_LIFETIME_MS + 2 * L.ANNOUNCEMENT_CLOCK_SKEW_MS) / 1000;
    expect(d.newcomers.burst + d.newcomers.perSecond * recordLifeS + d.maxServers).toBeLessThan(
      d.rememberServers,
    );
    expect(() => relayLimits({ maxServers: 0 })).toThrow(RangeError);
    expect(() => relayLimits({ maxServers: 10, rememberServers: 5 })).toThrow(RangeError);
    expect(relayLimits({ maxServers: 7 }).maxServers).toBe(7);
  });
});

describe('ThrottledLog', () => {
  it('logs the first line of a period and counts the rest', () => {
    const c = clock();
    const lines: string[] = [];
    const log = new ThrottledLog((l) => lines.push(l), 10_000, c.now);
    log.note('one');
    log.note('two');
    log.note('three');
    expect(lines).toEqual(['one']);
    c.set(10_000);
    log.note('four');
    expect(lines).toEqual(['one', '…and 2 more like it (latest: three)', 'four']);
    log.flush();
    expect(lines.length).toBe(3);
  });
});

describe('relay envelopes', () => {
  it('one written in place before its payload is byte-equal to one copied, and round-trips', () => {
    const payload = crypto.getRandomValues(new Uint8Array(1000));
    const buf = new Uint8Array(L.RELAY_ENVELOPE_BYTES + 3 + payload.length);
    buf.set(payload, L.RELAY_ENVELOPE_BYTES + 3);
    const inPlace = encodeEnvelopeInPlace(
      EnvelopeKind.Data,
      0x8765_4321,
      buf.subarray(L.RELAY_ENVELOPE_BYTES + 3),
    );
    expect(inPlace.buffer).toBe(buf.buffer);
    expect(inPlace).toEqual(encodeEnvelope(EnvelopeKind.Data, 0x8765_4321, payload));
    const env = decodeEnvelope(inPlace);
    expect(env.kind).toBe(EnvelopeKind.Data);
    expect(env.channel).toBe(0x8765_4321);
    expect(env.payload).toEqual(payload);
  });

  it('refuses a payload with no room before it', () => {
    const buf = new Uint8Array(100);
    expect(() =>
      encodeEnvelopeInPlace(EnvelopeKind.Data, 1, buf.subarray(L.RELAY_ENVELOPE_BYTES - 1)),
    ).toThrow(RangeError);
  });
});
