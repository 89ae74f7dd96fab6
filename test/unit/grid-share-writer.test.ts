import { describe, expect, it } from 'vitest';
import { ShareWriter, type ShareWriterOptions } from '../../core/grid/share-writer.ts';
import type { StorageServerApi } from '../../core/protocol/storage-api.ts';
import { asServerId, asShareNum, type ShareNum, type StorageIndex } from '../../core/types.ts';

/**
 * A server that records what it is sent (writeShare's bytes, copied when called, with the
 * buffer they came in). With `held`, it answers no write until `answer()`.
 */
function recordingServer(id: string, opts: { readsWritesAtOnce?: boolean; held?: boolean } = {}) {
  const writes: {
    shnum: ShareNum;
    offset: number;
    bytes: number[];
    bufferBytes: number;
    buffer: ArrayBufferLike;
  }[] = [];
  const unanswered: (() => void)[] = [];
  const api = {
    serverId: asServerId(id),
    readsWritesAtOnce: opts.readsWritesAtOnce,
    writeShare(_si: StorageIndex, shnum: ShareNum, _secret: Uint8Array, offset: number, data: Uint8Array) {
      writes.push({
        shnum,
        offset,
        bytes: [...data],
        bufferBytes: data.buffer.byteLength,
        buffer: data.buffer,
      });
      return opts.held ? new Promise<void>((resolve) => unanswered.push(resolve)) : Promise.resolve();
    },
    async closeShare() {},
    async abortShare() {},
    async listShares() {
      return [];
    },
  } as unknown as StorageServerApi;
  const answer = () => {
    for (const resolve of unanswered.splice(0)) resolve();
  };
  return { api, writes, answer };
}

function writerFor(
  servers: ReturnType<typeof recordingServer>[],
  shareSize: number,
  extra: Partial<ShareWriterOptions> = {},
): ShareWriter {
  return new ShareWriter({
    si: new Uint8Array(16) as StorageIndex,
    k: 1,
    happy: servers.length,
    n: servers.length,
    shareholders: {
      buckets: new Map(servers.map((s, i) => [s.api, new Set([asShareNum(i)])])),
      held: new Map(),
      have: new Map(),
      happiness: servers.length,
      serversFound: servers.length,
    },
    uploadSecretFor: () => new Uint8Array(32),
    shareSize,
    ...extra,
  });
}

describe('ShareWriter', () => {
  it('sends a share in requests of a quarter of it, at least 256 KiB and at most 1 MiB (or the bound given)', async () => {
    const KiB = 1024;
    const block = 43_691; // a 128 KiB segment's block at k=3, as the encoder writes them
    for (const [shareSize, batch, most] of [
      [600 * KiB, 256 * KiB],
      [1536 * KiB, 384 * KiB],
      [8192 * KiB, 1024 * KiB],
      // A smaller bound (a tab's), and one above what a frame takes.
      [8192 * KiB, 512 * KiB, 512 * KiB],
      [1536 * KiB, 384 * KiB, 512 * KiB],
      [8192 * KiB, 1024 * KiB, 4096 * KiB],
    ]) {
      const server = recordingServer(`v0-${'7'.repeat(52)}`);
      const writer = writerFor([server], shareSize, { maxCoalesceBytes: most });
      for (let at = 0; at < shareSize; at += block) {
        await writer.write(asShareNum(0), at, new Uint8Array(Math.min(block, shareSize - at)).fill(at % 251));
      }
      await writer.close();
      const sizes = server.writes.map((w) => w.bytes.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(shareSize);
      // Every request but the last is as full as whole blocks make it.
      for (const size of sizes.slice(0, -1)) expect(size).toBe(Math.floor(batch / block) * block);
      expect(sizes.length).toBe(Math.ceil(shareSize / (Math.floor(batch / block) * block)));
    }
  });

  it('sends a write larger than a batch in full batches (a trailer after the last block), reusing their buffers', async () => {
    const KiB = 1024;
    const shareSize = 1024 * KiB; // batches of 256 KiB
    const server = recordingServer(`v0-${'3'.repeat(52)}`, { readsWritesAtOnce: true });
    const writer = writerFor([server], shareSize);
    const bytes = Uint8Array.from({ length: shareSize }, (_, i) => (i * 7) % 251);
    const head = 100 * KiB; // a batch under way, then one write of all the rest
    await writer.write(asShareNum(0), 0, bytes.subarray(0, head));
    await writer.write(asShareNum(0), head, bytes.subarray(head));
    await writer.close();
    expect(server.writes.map((w) => [w.offset, w.bytes.length])).toEqual([
      [0, 256 * KiB],
      [256 * KiB, 256 * KiB],
      [512 * KiB, 256 * KiB],
      [768 * KiB, 256 * KiB],
    ]);
    expect(Buffer.from(server.writes.flatMap((w) => w.bytes)).equals(bytes)).toBe(true);
    // No buffer the size of the big write: every request went in a batch buffer.
    expect(Math.max(...server.writes.map((w) => w.bufferBytes))).toBe(256 * KiB);
    expect(new Set(server.writes.map((w) => w.buffer)).size).toBe(1);
  });

  it('joins contiguous writes, in buffers no larger than what is left of the share', async () => {
    const servers = [0, 1].map((i) => recordingServer(`v0-${String(i).repeat(52)}`));
    const writer = new ShareWriter({
      si: new Uint8Array(16) as StorageIndex,
      k: 1,
      happy: 2,
      n: 2,
      shareholders: {
        buckets: new Map(servers.map((s, i) => [s.api, new Set([asShareNum(i)])])),
        held: new Map(),
        have: new Map(),
        happiness: 2,
        serversFound: 2,
      },
      uploadSecretFor: () => new Uint8Array(32),
      shareSize: 300,
    });
    for (const [i, s] of servers.entries()) {
      await writer.write(asShareNum(i), 0, new Uint8Array(100).fill(1));
      await writer.write(asShareNum(i), 100, new Uint8Array(150).fill(2));
      await writer.write(asShareNum(i), 250, new Uint8Array(50).fill(3));
      expect(s.writes).toEqual([]);
    }
    await writer.close();
    for (const [i, s] of servers.entries()) {
      expect(s.writes).toHaveLength(1);
      const [w] = s.writes;
      expect(w.shnum).toBe(i);
      expect(w.offset).toBe(0);
      expect(w.bytes).toEqual([...Array(100).fill(1), ...Array(150).fill(2), ...Array(50).fill(3)]);
      expect(w.bufferBytes).toBeLessThanOrEqual(300);
    }
  });

  it('fills a batch buffer again once sent to a server that has read it, and not before otherwise', async () => {
    const KiB = 1024;
    const shareSize = 1024 * KiB; // batches of 256 KiB
    const block = 64 * KiB;
    for (const readsWritesAtOnce of [true, false]) {
      const server = recordingServer(`v0-${'5'.repeat(52)}`, { readsWritesAtOnce, held: true });
      // The whole share may be in flight, unanswered.
      const writer = writerFor([server], shareSize, { maxInFlightBytes: shareSize });
      for (let at = 0; at < shareSize; at += block)
        await writer.write(asShareNum(0), at, new Uint8Array(block).fill((at / block) % 251));
      const closing = writer.close();
      server.answer();
      await closing;
      // Every byte as written, whichever buffers carried them.
      expect(server.writes.flatMap((w) => w.bytes)).toEqual(
        Array.from({ length: shareSize / block }, (_, i) => Array(block).fill(i)).flat(),
      );
      const buffers = new Set(server.writes.map((w) => w.buffer));
      expect(server.writes).toHaveLength(4);
      // Sent and read: the next batch reuses the buffer. Otherwise each waits for its answer.
      expect(buffers.size).toBe(readsWritesAtOnce ? 1 : 4);
    }
  });
});
