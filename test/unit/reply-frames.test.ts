import { describe, expect, it } from 'vitest';
import { ReplyFrames } from '../../server/reply-frames.ts';

describe('ReplyFrames', () => {
  it('gives a written large frame to the next read of that size class, never one still lent', () => {
    const f = new ReplyFrames();
    const a = f.take(512 * 1024 + 9);
    const b = f.take(512 * 1024 + 9);
    expect(a.length).toBe(512 * 1024 + 9);
    expect(b.buffer).not.toBe(a.buffer);
    f.give(a);
    const c = f.take(512 * 1024 + 20); // another head length, the same class
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(512 * 1024 + 20);
    // Given twice (or lent again), a buffer is not handed out twice.
    f.give(a);
    f.give(a);
    expect(f.take(512 * 1024).buffer).not.toBe(a.buffer);
  });

  it('pools neither small frames nor buffers it did not lend', () => {
    const f = new ReplyFrames();
    const small = f.take(1000);
    f.give(small);
    expect(f.take(1000).buffer).not.toBe(small.buffer);
    const foreign = new Uint8Array(512 * 1024);
    f.give(foreign);
    expect(f.take(512 * 1024).buffer).not.toBe(foreign.buffer);
  });

  it('keeps at most 32 MiB of free buffers', () => {
    const f = new ReplyFrames();
    const lent = Array.from({ length: 40 }, () => f.take(1024 * 1024));
    for (const b of lent) f.give(b);
    const again = new Set(Array.from({ length: 40 }, () => f.take(1024 * 1024).buffer));
    const reused = lent.filter((b) => again.has(b.buffer as ArrayBuffer)).length;
    expect(reused).toBe(32);
  });
});
