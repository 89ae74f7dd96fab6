/**
 * Writes to one share sent without waiting for each other (StorageServer on a disk backend):
 * applied in the order they came, small consecutive ones put to the file together, and each
 * answered on its own terms; the share holds exactly the bytes sent.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { asShareNum, asStorageIndex, type ShareNum } from '../../core/types.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { StorageServer } from '../../server/storage-server.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

const rand = (n: number) => new Uint8Array(randomBytes(n));
afterAll(() => cleanup());

/** A server whose pending shares record the file writes each receives (their data). */
async function start() {
  const backend = new DiskBackend(tempDir('cairn-write-queue-'));
  const fileWrites = new Map<ShareNum, Uint8Array[]>();
  const createPending = backend.createPending.bind(backend);
  backend.createPending = (si, sh) => {
    const pending = createPending(si, sh);
    const write = pending.file.write.bind(pending.file);
    const writes: Uint8Array[] = [];
    fileWrites.set(sh, writes);
    pending.file.write = (position, data) => {
      writes.push(data);
      return write(position, data);
    };
    return pending;
  };
  const server = new StorageServer({ backend, nodeId: rand(20), log: () => {} });
  await server.start();
  return { server, fileWrites };
}

describe('writes to one share in flight at once', () => {
  it('apply in order, small consecutive ones together, each refused or taken on its own', async () => {
    const { server, fileWrites } = await start();
    const si = asStorageIndex(rand(16));
    const block = 4096;
    const blocks = 200;
    const data = rand(block * blocks);
    const s = { renew: rand(32), cancel: rand(32), upload: rand(32) };
    const session = server.openSession();
    await server.allocate({ si, ...s, shares: [asShareNum(0)], size: data.length }, session);
    const write = (offset: number, bytes: Uint8Array) =>
      server.write({ si, sh: asShareNum(0), upload: s.upload, offset, data: bytes }, session);

    const sent: { what: string; done: Promise<void> }[] = [];
    for (let i = 0; i < blocks; i++) {
      sent.push({ what: 'block', done: write(i * block, data.subarray(i * block, (i + 1) * block)) });
      if (i === 100) {
        // Bytes written earlier, sent again unchanged: taken.
        sent.push({ what: 'same', done: write(10 * block + 7, data.slice(10 * block + 7, 12 * block)) });
      }
      if (i === 150) {
        // Bytes written earlier, sent again with one changed: refused, and nothing else is.
        const changed = data.slice(20 * block, 20 * block + 100);
        changed[50] ^= 1;
        sent.push({ what: 'changed', done: write(20 * block, changed) });
      }
      if (i === 160) sent.push({ what: 'past the end', done: write(data.length - 10, rand(20)) });
    }
    const results = await Promise.allSettled(sent.map((x) => x.done));
    const outcome = (r: PromiseSettledResult<void>) =>
      r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code;
    expect(results.map((r, i) => `${sent[i].what}: ${outcome(r)}`)).toEqual(
      sent.map((x) =>
        x.what === 'changed'
          ? 'changed: CONFLICT'
          : x.what === 'past the end'
            ? 'past the end: TOO_LARGE'
            : `${x.what}: ok`,
      ),
    );
    const sizes = (fileWrites.get(asShareNum(0)) ?? []).map((d) => d.length);
    // Every byte reached the file, in far fewer writes than requests (the rewrite went alone).
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(data.length + 2 * block - 7);
    expect(sizes.length).toBeLessThan(blocks / 4);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024 * 1024);

    await server.close({ si, sh: asShareNum(0), upload: s.upload }, session);
    expectBytesEqual(
      await server.readImmutable({ si, sh: asShareNum(0), offset: 0, length: data.length }),
      data,
    );
    await expect(write(0, data.subarray(0, block))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await server.stop();
  });

  it('large writes go to the file one by one, uncopied', async () => {
    const { server, fileWrites } = await start();
    const si = asStorageIndex(rand(16));
    const part = 256 * 1024;
    const data = rand(4 * part);
    const s = { renew: rand(32), cancel: rand(32), upload: rand(32) };
    const session = server.openSession();
    await server.allocate({ si, ...s, shares: [asShareNum(0)], size: data.length }, session);
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        server.write(
          {
            si,
            sh: asShareNum(0),
            upload: s.upload,
            offset: i * part,
            data: data.subarray(i * part, (i + 1) * part),
          },
          session,
        ),
      ),
    );
    // Each write's own bytes, in the order sent: not copied into a run.
    const writes = fileWrites.get(asShareNum(0)) ?? [];
    expect(writes.map((d) => [d.buffer === data.buffer, d.byteOffset - data.byteOffset, d.length])).toEqual(
      [0, 1, 2, 3].map((i) => [true, i * part, part]),
    );
    await server.close({ si, sh: asShareNum(0), upload: s.upload }, session);
    expectBytesEqual(
      await server.readImmutable({ si, sh: asShareNum(0), offset: 0, length: data.length }),
      data,
    );
    await server.stop();
  });
});
