/**
 * web/sw/port-stream.ts over a real MessageChannel (Node's, as in the browser): bytes arrive
 * whole and in order, whole chunks move (the sender's buffer is detached, not copied), views
 * of part of a buffer are copied, the sender reads only a few chunks ahead of the reader,
 * and a failure, an error mid-stream and a cancel each reach the other side.
 */
import { describe, expect, it } from 'vitest';
import { receiveStream, sendStream, type StreamReply } from '../../web/sw/port-stream.ts';
import { pattern } from '../harness/bytes.ts';

/** A source stream over `chunks` that counts how many were pulled from it. */
function source(chunks: Uint8Array[], fail?: Error) {
  let i = 0;
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (i < chunks.length) {
          state.pulled++;
          c.enqueue(chunks[i++]);
        } else if (fail) c.error(fail);
        else c.close();
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream as unknown as AsyncIterable<Uint8Array>) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('port streams', () => {
  it('carries every byte in order, moving whole chunks and copying partial views', async () => {
    const whole = pattern(128 * 1024, 1);
    const backing = pattern(3000, 2);
    const view = backing.subarray(1000, 2000);
    const expected = [whole.slice(), view.slice(), pattern(5, 3)];
    const { stream } = source([whole, view, pattern(5, 3)]);
    const { port1, port2 } = new MessageChannel();
    const received = receiveStream(port1);
    sendStream(stream, port2);
    const got = await readAll(await received);
    expect(Buffer.from(got)).toEqual(Buffer.concat(expected));
    expect(whole.byteLength).toBe(0); // transferred: the sender's copy is gone
    expect(backing.byteLength).toBe(3000); // copied: the rest of that buffer untouched
    expect(Buffer.from(backing.subarray(1000, 2000))).toEqual(Buffer.from(expected[1]));
  });

  it('with chunksOwnBuffers, moves a view a few bytes into its own buffer instead of copying it', async () => {
    // A decrypted segment at an offset that is not a multiple of 16 (k=3): bytes 5.. of its buffer.
    const backing = pattern(131_078, 4);
    const view = backing.subarray(5);
    const expected = Buffer.from(view);
    const { stream } = source([view]);
    const { port1, port2 } = new MessageChannel();
    const received = receiveStream(port1);
    sendStream(stream, port2, { chunksOwnBuffers: true });
    expect(Buffer.from(await readAll(await received))).toEqual(expected);
    expect(backing.byteLength).toBe(0); // moved, not copied
  });

  it('reads only a few chunks ahead of a reader that stops', async () => {
    const { stream, state } = source(Array.from({ length: 50 }, (_, i) => pattern(1000, i)));
    const { port1, port2 } = new MessageChannel();
    const received = receiveStream(port1);
    sendStream(stream, port2);
    const reader = (await received).getReader();
    await reader.read();
    await settle();
    expect(state.pulled).toBeGreaterThan(1);
    expect(state.pulled).toBeLessThanOrEqual(6);
    await reader.cancel();
    await settle();
    expect(state.cancelled).toBe(true);
    expect(state.pulled).toBeLessThanOrEqual(6);
  });

  it('passes an error mid-stream on to the reader', async () => {
    const { stream } = source([pattern(10, 1)], new Error('share 3 went away'));
    const { port1, port2 } = new MessageChannel();
    const received = receiveStream(port1);
    sendStream(stream, port2);
    await expect(readAll(await received)).rejects.toThrow('share 3 went away');
  });

  it('rejects with the reason when the sender has no stream to send', async () => {
    const { port1, port2 } = new MessageChannel();
    const received = receiveStream(port1);
    port2.postMessage({ ok: false, message: 'no shares of this file were found' } satisfies StreamReply);
    port2.close();
    await expect(received).rejects.toThrow('no shares of this file were found');
  });
});
