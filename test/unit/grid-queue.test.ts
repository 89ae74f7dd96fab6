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
    // push and take settle through promises only: one turn of the event loop (setImmediate
    // runs after every pending promise job) lets everything run that can.
    const settle = () => new Promise((r) => setImmediate(r));
    await settle();
    // 4 + 4 fit in 10; the third waits (an item is always accepted into an empty queue).
    expect(pushed).toBe(2);
    const consumer = q[Symbol.asyncIterator]();
    const got: number[] = [];
    for (let taken = 1; taken <= 20; taken++) {
      const next = await consumer.next();
      if (next.done) throw new Error(`the queue ended after ${got.length} items`);
      got.push(next.value);
      await settle();
      // Each item taken makes room for exactly one more: never more than 2 ahead.
      expect(pushed - taken, `after taking ${taken}`).toBe(Math.min(2, 20 - taken));
    }
    expect((await consumer.next()).done).toBe(true);
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
