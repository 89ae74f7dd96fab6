import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../../core/grid/queue.ts';

describe('BoundedQueue', () => {
  it('delivers in order and keeps the producer within its bound', async () => {
    const q = new BoundedQueue<number>(10);
    let pushed = 0;
    const producer = (async () => {
      for (let i = 0; i < 20; i++) {
        await q.push(i, 4);
        pushed++;
      }
      q.end();
    })();
    await new Promise((r) => setTimeout(r, 10));
    // 4 + 4 fit in 10; the third waits (an item is always accepted into an empty queue).
    expect(pushed).toBe(2);
    const got: number[] = [];
    for await (const x of q) got.push(x);
    await producer;
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('fails both sides', async () => {
    const q = new BoundedQueue<number>(1);
    await q.push(1, 1);
    const blocked = q.push(2, 1);
    q.fail(new Error('boom'));
    await expect(blocked).rejects.toThrow('boom');
    const it = q[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toThrow('boom');
  });
});
