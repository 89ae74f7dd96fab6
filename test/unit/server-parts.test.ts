/** The storage server's small parts on their own: handle budget, locks, lease cap, advisory limits. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PartSlots, STREAM_PART_BYTES } from '../../server/backends/s3-parts.ts';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { encodeCbor } from '../../core/protocol/cbor.ts';
import { decodeReply, encodeRequest } from '../../core/protocol/frames.ts';
import { decodeEnvelope, EnvelopeKind, encodeEnvelope } from '../../core/protocol/relay-envelope.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';
import { StorageError } from '../../core/protocol/storage-api.ts';
import {
  ADVISORIES_PER_SI,
  ADVISORY_BURST,
  AdvisoryLimiter,
  advisoryName,
  advisorySi,
} from '../../server/advisories.ts';
import { type Lease, newLease } from '../../server/containers.ts';
import { defaultHandleBudget, HandleBudget } from '../../server/handle-budget.ts';
import { RequestHandler } from '../../server/handler.ts';
import { RelayLink } from '../../server/relay-link.ts';
import { KeyedLock } from '../../server/keyed-lock.ts';
import { addOrRenewLease, MAX_LEASES_PER_SHARE } from '../../server/leases.ts';
import { type StorageServer, UploadSession } from '../../server/storage-server.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

afterAll(() => cleanup());

describe('HandleBudget', () => {
  it('never holds more handles than its budget, and every use completes', async () => {
    const dir = tempDir('cairn-handles-');
    const files = Array.from({ length: 12 }, (_, i) => path.join(dir, `f${i}`));
    for (const [i, f] of files.entries()) await fs.writeFile(f, `file ${i}`);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 6 }),
        fc.array(
          fc.record({ file: fc.nat(11), kind: fc.constantFrom('read', 'dir', 'forget'), hold: fc.nat(3) }),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        async (max, ops) => {
          const budget = new HandleBudget(max);
          let open = 0;
          let peak = 0;
          const opened = async (p: string) => {
            const h = await fs.open(p, 'r');
            open++;
            peak = Math.max(peak, open);
            const close = h.close.bind(h);
            h.close = async () => {
              open--;
              await close();
            };
            return h;
          };
          const pause = (n: number) => new Promise<void>((r) => setTimeout(r, n));
          await Promise.all(
            ops.map(async (op) => {
              const p = files[op.file];
              if (op.kind === 'forget') return budget.forget(p);
              if (op.kind === 'dir') {
                return budget.transient(async () => {
                  const h = await opened(dir);
                  await pause(op.hold);
                  await h.close();
                });
              }
              const text = await budget.use(
                p,
                'r',
                () => opened(p),
                async (h) => {
                  await pause(op.hold);
                  // Positional reads: concurrent users share one handle (and its file position).
                  const buf = Buffer.alloc(32);
                  const { bytesRead } = await h.read(buf, 0, 32, 0);
                  return buf.subarray(0, bytesRead).toString();
                },
              );
              expect(text).toBe(`file ${op.file}`);
            }),
          );
          expect(peak).toBeLessThanOrEqual(max);
          expect(budget.inUse).toBe(open);
          await budget.closeAll();
          expect(open).toBe(0);
          expect(budget.inUse).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('after closeAll, a call still running (or a later one) leaves no handle open', async () => {
    const budget = new HandleBudget(4);
    const dir = tempDir('cairn-budget-');
    const file = path.join(dir, 'f');
    await fs.writeFile(file, 'x');
    await budget.use(
      file,
      'r',
      () => fs.open(file, 'r'),
      async () => {},
    );
    expect(budget.inUse).toBe(1); // cached
    let handle: fs.FileHandle | undefined;
    const late = budget.use(
      file + '2',
      'r',
      async () => {
        await budget.closeAll(); // the owner stops while this one is opening
        handle = await fs.open(file, 'r');
        return handle;
      },
      async () => {},
    );
    await late;
    await budget.use(
      file,
      'r',
      () => fs.open(file, 'r'),
      async () => {},
    );
    await new Promise((r) => setTimeout(r, 50)); // closes finish after the use returns
    expect(budget.inUse).toBe(0);
    expect(handle?.fd).toBe(-1);
  });

  it('takes a quarter of the open-file limit, within bounds', () => {
    const limits = (n: string) =>
      `Limit  Soft Limit  Hard Limit  Units\nMax open files            ${n}                  4096                 files\n`;
    expect(defaultHandleBudget(limits('1024'))).toBe(256);
    expect(defaultHandleBudget(limits('256'))).toBe(64);
    expect(defaultHandleBudget(limits('20000'))).toBe(1024);
    expect(defaultHandleBudget(limits('40'))).toBe(16);
    expect(defaultHandleBudget(limits('unlimited'))).toBe(1024);
    expect(defaultHandleBudget('nothing useful')).toBe(256);
  });
});

describe('PartSlots', () => {
  it('runs at most its count at once, each with a part buffer of its own, used again unless its part failed', async () => {
    const slots = new PartSlots(2);
    let running = 0;
    let most = 0;
    const seen = new Set<Uint8Array>();
    const held = new Set<Uint8Array>();
    const part = (fail: boolean) =>
      slots.run(async (buffer) => {
        expect(buffer.length).toBe(STREAM_PART_BYTES);
        expect(held.has(buffer)).toBe(false);
        held.add(buffer);
        seen.add(buffer);
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        held.delete(buffer);
        if (fail) throw new Error('part failed');
        return buffer;
      });
    const first = await Promise.all(Array.from({ length: 10 }, () => part(false)));
    expect(most).toBe(2);
    expect(seen.size).toBe(2);
    expect(new Set(first).size).toBe(2);
    // A failed part's buffer may still be read by the HTTP layer: it is never handed out again.
    const failed = new Set<Uint8Array>();
    await Promise.all(
      Array.from({ length: 2 }, () =>
        slots
          .run(async (buffer) => {
            failed.add(buffer);
            throw new Error('part failed');
          })
          .catch(() => {}),
      ),
    );
    const after = await Promise.all(Array.from({ length: 6 }, () => part(false)));
    for (const b of after) expect(failed.has(b)).toBe(false);
    await expect(part(true)).rejects.toThrow('part failed');
  });
});

describe('KeyedLock', () => {
  it('runs shared tasks together, exclusive ones alone, in arrival order', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const task = (name: string, wait?: Promise<void>) => async () => {
      log.push(`${name}+`);
      await wait;
      await Promise.resolve();
      log.push(`${name}-`);
    };
    const all = [
      lock.shared('k', task('r1', gate)),
      lock.shared('k', task('r2')),
      lock.run('k', task('w1')),
      lock.shared('k', task('r3')), // waits for w1, though only readers run now
      lock.run('other', task('x')), // another key never waits
    ];
    await Promise.resolve();
    expect(log).toEqual(['r1+', 'r2+', 'x+']);
    release();
    await Promise.all(all);
    expect(log.indexOf('w1+')).toBeGreaterThan(log.indexOf('r1-'));
    expect(log.indexOf('w1+')).toBeGreaterThan(log.indexOf('r2-'));
    expect(log.indexOf('r3+')).toBeGreaterThan(log.indexOf('w1-'));
    // A failed task does not wedge the key.
    await expect(
      lock.run('k', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await lock.run('k', async () => 7)).toBe(7);
  });
});

describe('lease cap', () => {
  const rand = () => new Uint8Array(randomBytes(32));
  it('renews in place, adds up to the cap, then replaces the lease that expires first', () => {
    let leases: Array<Lease | null> = Array.from({ length: MAX_LEASES_PER_SHARE }, (_, i) =>
      newLease(rand(), rand(), 1000 + i),
    );
    const mine = leases[10] as Lease;
    // Renewal: always, in place.
    let u = addOrRenewLease(leases, { ...newLease(rand(), rand(), 5000), renewHash: mine.renewHash });
    expect(u).toMatchObject({ how: 'renewed', changed: 10 });
    expect(u.leases[10]?.expires).toBe(5000);
    leases = u.leases;
    // A renewal to an earlier time changes nothing.
    expect(addOrRenewLease(leases, { ...newLease(rand(), rand(), 10), renewHash: mine.renewHash }).how).toBe(
      'unchanged',
    );
    // At the cap, a new lease takes the place of the earliest (index 0, expiring at 1000).
    const fresh = newLease(rand(), rand(), 6000);
    u = addOrRenewLease(leases, fresh);
    expect(u).toMatchObject({ how: 'replaced', changed: 0 });
    expect(u.leases).toHaveLength(MAX_LEASES_PER_SHARE);
    expect(u.leases[0]).toBe(fresh);
    // One that would expire before every kept one adds nothing.
    expect(addOrRenewLease(u.leases, newLease(rand(), rand(), 999)).how).toBe('unchanged');
    // Below the cap: appended.
    expect(addOrRenewLease(leases.slice(0, 3), fresh)).toMatchObject({ how: 'added', changed: 3 });
    // An empty slot (a mutable container's, as Tahoe leaves a cancelled lease) is filled first.
    const holed = [leases[0], null, leases[2]];
    u = addOrRenewLease(holed, fresh);
    expect(u).toMatchObject({ how: 'added', changed: 1 });
    expect(u.leases).toEqual([leases[0], fresh, leases[2]]);
  });
});

describe('AdvisoryLimiter', () => {
  const si = (n: number) => String.fromCharCode(97 + n).repeat(26);
  it('bounds advisories per storage index, in all, and per second', () => {
    let t = 0;
    const limiter = new AdvisoryLimiter(() => t);
    for (let i = 0; i < ADVISORIES_PER_SI; i++) limiter.admit(si(0));
    expect(() => limiter.admit(si(0))).toThrow(expect.objectContaining({ code: 'NO_SPACE' }));
    let n = ADVISORIES_PER_SI;
    for (let i = 1; n < ADVISORY_BURST; i++, n++) limiter.admit(si(i));
    const refusal = (() => {
      try {
        limiter.admit(si(20));
      } catch (err) {
        return err;
      }
    })();
    expect(refusal).toBeInstanceOf(StorageError);
    expect(refusal).toMatchObject({ code: 'UNAVAILABLE' });
    t += 1000;
    limiter.admit(si(20));
    expect(() => limiter.admit(si(21))).toThrow(/too many corruption advisories/);
  });

  it('counts what is already kept, from the file names', () => {
    const names = Array.from({ length: ADVISORIES_PER_SI }, (_, i) =>
      advisoryName(new Date(1e12), si(1), 'mutable', 3, i),
    );
    expect(advisorySi(names[0])).toBe(si(1));
    expect(advisorySi('notes.txt')).toBeNull();
    const limiter = new AdvisoryLimiter(() => 0);
    limiter.load([...names, 'notes.txt']);
    expect(() => limiter.admit(si(1))).toThrow(expect.objectContaining({ code: 'NO_SPACE' }));
    limiter.admit(si(2));
  });
});

describe('RequestHandler log', () => {
  it('notes unreadable frames once per period with a count, not a line per frame (found by bench/fuzz.ts)', async () => {
    const lines: string[] = [];
    const handler = new RequestHandler({} as StorageServer, generateKeyPair(), (l) => lines.push(l));
    const session = new UploadSession();
    for (let i = 0; i < 1000; i++) {
      const reply = decodeReply(await handler.handle(new Uint8Array([0xff, i & 0xff]), session));
      expect(reply).toMatchObject({ id: 0, ok: false, code: 'BAD_REQUEST' });
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^bad frame \(2 bytes\)/);
  });
});

describe('RelayLink log', () => {
  it("notes what a relay sends it once per period, on one line each (found by bench/fuzz.ts's hostile relay)", async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/link' });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const lines: string[] = [];
    const key = generateKeyPair();
    const link = new RelayLink({
      relayUrl: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
      key,
      handler: new RequestHandler(
        { openSession: () => new UploadSession(), closeSession: () => {} } as unknown as StorageServer,
        key,
      ),
      describe: async () => ({ nickname: '', url: null, availableSpace: 0 }),
      log: (l) => lines.push(l),
    });
    const relaySide = new Promise<WebSocket>((r) => wss.once('connection', r));
    link.start();
    const ws = await relaySide;
    for (let i = 0; i < 200; i++) ws.send(Uint8Array.of(9, i, 0, 0, 0)); // unknown envelope kind
    for (let i = 0; i < 50; i++) {
      const m = encodeCbor({ t: 'rejected', c: 'RATE_LIMITED', m: 'no\n2026-01-01T00:00:00Z forged line' });
      ws.send(encodeEnvelope(EnvelopeKind.Control, 0, m));
    }
    // A request on a channel is still answered once all that is read.
    const reply = new Promise<Uint8Array>((r) =>
      ws.on('message', (d: Buffer) => {
        const env = decodeEnvelope(new Uint8Array(d));
        if (env.kind === EnvelopeKind.Data) r(env.payload);
      }),
    );
    ws.send(encodeEnvelope(EnvelopeKind.Open, 1));
    ws.send(
      encodeEnvelope(EnvelopeKind.Data, 1, encodeRequest(5, 'hello', { challenge: new Uint8Array(32) })),
    );
    expect(decodeReply(await reply)).toMatchObject({ id: 5, ok: true });
    link.stop();
    await new Promise((r) => wss.close(r));
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
  });
});
