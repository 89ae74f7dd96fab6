import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../core/primitives/buffer-pool.ts';

describe('BufferPool', () => {
  it('hands back a given buffer for the same size only', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.take(1000);
    expect(a.length).toBe(1000);
    pool.give(a);
    expect(pool.heldBytes).toBe(1000);
    expect(pool.take(999)).not.toBe(a);
    expect(pool.take(1000)).toBe(a);
    expect(pool.heldBytes).toBe(0);
    expect(pool.take(1000)).not.toBe(a); // taken once, not twice
  });

  it('keeps no more than its limit', () => {
    const pool = new BufferPool(2500);
    const bufs = [pool.take(1000), pool.take(1000), pool.take(1000)];
    for (const b of bufs) pool.give(b);
    expect(pool.heldBytes).toBe(2000);
    expect(pool.take(1000)).toBe(bufs[1]);
    expect(pool.take(1000)).toBe(bufs[0]);
    expect(pool.take(1000)).not.toBe(bufs[2]);
  });

  it('makes room for the size given back now by dropping the sizes given back longest ago', () => {
    const pool = new BufferPool(3000);
    const small = [pool.take(500), pool.take(500), pool.take(500)];
    const mid = pool.take(700);
    for (const b of small) pool.give(b);
    pool.give(mid);
    expect(pool.heldBytes).toBe(2200);
    const big = [pool.take(1000), pool.take(1000)];
    for (const b of big) pool.give(b);
    // Both 1000s kept: room came from the 500s (given back before the 700), one buffer at a
    // time as needed; the 700 stayed.
    expect(pool.heldBytes).toBe(2700);
    expect(pool.take(700)).toBe(mid);
    const again = pool.take(500);
    expect(small.includes(again)).toBe(false);
    expect(pool.take(1000)).toBe(big[1]);
    // Larger than the whole pool: not kept, nothing dropped for it.
    pool.give(new Uint8Array(5000));
    expect(pool.heldBytes).toBe(1000);
  });

  it('with a step, sizes that round to the same capacity share buffers, handed out as views', () => {
    const step = 64 * 1024;
    const pool = new BufferPool(1 << 22, { step });
    const a = pool.take(512 * 1024 + 9);
    expect(a.length).toBe(512 * 1024 + 9);
    expect(a.buffer.byteLength).toBe(9 * step);
    const b = pool.take(512 * 1024 + 9);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a.subarray(5)); // a view of it, as a reply laid out after a header
    expect(pool.heldBytes).toBe(9 * step);
    const c = pool.take(512 * 1024 + 40);
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(512 * 1024 + 40);
    expect(pool.take(512 * 1024 + 40).buffer).not.toBe(a.buffer); // taken once, not twice
    // A buffer of a capacity the pool never makes is not kept.
    pool.give(new Uint8Array(1000));
    pool.give(new Uint8Array(step + 1));
    expect(pool.heldBytes).toBe(0);
  });

  it('with a step and no free buffer of the capacity, hands out a free one up to a quarter larger', () => {
    const step = 64 * 1024;
    const pool = new BufferPool(1 << 22, { step });
    const big = pool.take(12 * step);
    const bigger = pool.take(16 * step);
    pool.give(big);
    pool.give(bigger);
    // 9 steps: 12 is more than a quarter above, so a fresh buffer.
    expect(pool.take(9 * step - 5).buffer).not.toBe(big.buffer);
    // 10 steps: the 12-step buffer (the smallest that fits), as a view of the size asked for.
    const a = pool.take(10 * step - 5);
    expect(a.buffer).toBe(big.buffer);
    expect(a.length).toBe(10 * step - 5);
    expect(pool.heldBytes).toBe(16 * step);
    // Given back, it is filed under its own capacity again.
    pool.give(a);
    expect(pool.take(12 * step).buffer).toBe(big.buffer);
    expect(pool.take(13 * step).buffer).toBe(bigger.buffer);
    expect(pool.heldBytes).toBe(0);
  });

  it('without a step, hands out exact sizes only', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.take(1100);
    pool.give(a);
    expect(pool.take(1000)).not.toBe(a);
    expect(pool.take(1100)).toBe(a);
  });
});
