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
});
