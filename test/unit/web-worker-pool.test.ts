/**
 * WorkerPool over real message channels (comlink on a MessageChannel, as a Worker would
 * carry it): tasks spread over up to `size` workers (light ones share a busy worker), and with
 * `retireAfter` a worker that has run its share takes no more, ends once its tasks settle,
 * and a new one takes over.
 */
import { expose } from 'comlink';
import { expect, test } from 'vitest';
import { WorkerPool } from '../../web/workers/pool.ts';

interface Api {
  /** This worker's number, after `gate` (when given) opens. */
  who(gate?: number): Promise<number>;
}

function channelWorkers() {
  const gates = new Map<number, () => void>();
  const opened = new Map<number, Promise<void>>();
  const gate = (n: number) => {
    if (!opened.has(n)) opened.set(n, new Promise<void>((r) => gates.set(n, r)));
    return opened.get(n)!;
  };
  const ended: number[] = [];
  let made = 0;
  const create = () => {
    const id = ++made;
    const ch = new MessageChannel();
    const api: Api = {
      async who(g) {
        if (g !== undefined) await gate(g);
        return id;
      },
    };
    expose(api, ch.port1 as never);
    const worker = Object.assign(ch.port2, {
      terminate() {
        ended.push(id);
        ch.port1.close();
        ch.port2.close();
      },
    });
    return worker as unknown as Worker;
  };
  const open = (n: number) => {
    gate(n);
    gates.get(n)!();
  };
  return { create, ended, made: () => made, open };
}

test('without retireAfter, workers are started up to size and kept', async () => {
  const w = channelWorkers();
  const pool = new WorkerPool<Api>(w.create, { size: 2 });
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(await pool.run((r) => r.who()));
  expect(new Set(ids).size).toBe(1); // one at a time: the idle first worker takes each
  expect(await Promise.all([1, 2, 3, 4].map(() => pool.run((r) => r.who())))).toEqual([1, 2, 1, 2]);
  expect(w.made()).toBe(2);
  expect(w.ended).toEqual([]);
  pool.terminate();
  expect(w.ended.sort()).toEqual([1, 2]);
});

test('a light task joins a busy worker rather than start another, and starts one when none runs', async () => {
  const w = channelWorkers();
  const pool = new WorkerPool<Api>(w.create, { size: 2 });
  expect(await pool.run((r) => r.who(), { light: true })).toBe(1); // none ran: one starts
  const long = pool.run((r) => r.who(1)); // worker 1 busy (an upload)
  expect(await pool.run((r) => r.who(), { light: true })).toBe(1);
  expect(w.made()).toBe(1);
  expect(await pool.run((r) => r.who())).toBe(2); // a task of weight still gets its own
  w.open(1);
  expect(await long).toBe(1);
  pool.terminate();
});

test('a worker that ran retireAfter tasks is replaced and ends once idle', async () => {
  const w = channelWorkers();
  const pool = new WorkerPool<Api>(w.create, { size: 1, retireAfter: 3 });
  const ids = [];
  for (let i = 0; i < 7; i++) ids.push(await pool.run((r) => r.who()));
  expect(ids).toEqual([1, 1, 1, 2, 2, 2, 3]);
  expect(w.ended).toEqual([1, 2]);
  expect(pool.running).toBe(1);
  expect(pool.started).toBe(3);
  pool.terminate();
  expect(w.ended).toEqual([1, 2, 3]);
});

test('a task of weight counts as that many towards retireAfter (a message of several jobs)', async () => {
  const w = channelWorkers();
  const pool = new WorkerPool<Api>(w.create, { size: 1, retireAfter: 4 });
  const ids = [];
  // 2 + 2 retires the first worker; then 3 + 1, then 1 + 1 + 1 + 1 on the third.
  for (const weight of [2, 2, 3, 1, 1, 1, 1, 1]) ids.push(await pool.run((r) => r.who(), { weight }));
  expect(ids).toEqual([1, 1, 2, 2, 3, 3, 3, 3]);
  expect(w.ended).toEqual([1, 2, 3]);
  pool.terminate();
});

test('a retired worker finishes the tasks it has before it ends, while its successor works', async () => {
  const w = channelWorkers();
  const pool = new WorkerPool<Api>(w.create, { size: 1, retireAfter: 2 });
  const first = pool.run((r) => r.who(1));
  const second = pool.run((r) => r.who(2)); // its second task: worker 1 retires
  const third = pool.run((r) => r.who()); // a new worker takes it
  expect(await third).toBe(2);
  expect(pool.running).toBe(2);
  expect(w.ended).toEqual([]);
  w.open(1);
  expect(await first).toBe(1);
  expect(w.ended).toEqual([]); // one task left on it
  w.open(2);
  expect(await second).toBe(1);
  expect(w.ended).toEqual([1]);
  expect(pool.running).toBe(1);
  pool.terminate();
});

test('retireAfter must be at least 1', () => {
  expect(() => new WorkerPool<Api>(() => ({}) as Worker, { retireAfter: 0 })).toThrow(RangeError);
});
