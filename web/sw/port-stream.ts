/**
 * A byte stream from one thread to another over a MessagePort, each chunk's memory
 * transferred instead of copied. A transferred ReadableStream clones every chunk: a copy
 * on the sending side and fresh memory on the receiving side, which is what made the
 * service worker the second-busiest thread of a tab download (bench:web, 64 MiB: 0.6-0.8
 * CPU-s; fresh 128 KiB buffers cost ~4 ms per MiB in Chromium on the bench machines, page
 * faults). The first message is a StreamReply (the bytes are coming, or why not); then the
 * receiver asks for chunks as its stream's queue empties, so the sender runs at most a few
 * chunks ahead of the reader and memory stays flat.
 */

import { passedAlong } from './young-garbage.ts';

/** Sender -> receiver: the first message on the port. */
export type StreamReply = { ok: true } | { ok: false; message: string };
/** Sender -> receiver, after an ok StreamReply. */
type Chunk = { chunk: Uint8Array<ArrayBuffer> } | { end: true } | { error: string };
/** Receiver -> sender. */
type Ask = { pull: true } | { cancel: true };

/** Chunks the receiving stream keeps queued (and so asks for ahead of its reader). */
const QUEUED_CHUNKS = 4;

/**
 * Sends `stream` on `port` (after an ok StreamReply) as the receiver pulls it, then closes
 * the port. A chunk that is a view of only part of its buffer is copied first (the rest of
 * that buffer may belong to someone else), unless `chunksOwnBuffers`: the producer promises
 * that no two chunks share a buffer and that it never touches one after handing it on (as
 * FileNode.read does: a segment decrypted at an offset that is not a multiple of 16, which
 * with k=3 is every segment, is a view a few bytes into its buffer).
 */
export function sendStream(
  stream: ReadableStream<Uint8Array>,
  port: MessagePort,
  opts: { chunksOwnBuffers?: boolean } = {},
): void {
  const reader = stream.getReader();
  let queue = Promise.resolve();
  let finished = false;
  const finish = (last: Chunk | null) => {
    if (finished) return;
    finished = true;
    if (last) port.postMessage(last);
    port.close();
  };
  const sendOne = async () => {
    if (finished) return;
    try {
      const step = await reader.read();
      if (finished) return;
      if (step.done) return finish({ end: true });
      const bytes = transferable(step.value, opts.chunksOwnBuffers ?? false);
      port.postMessage({ chunk: bytes } satisfies Chunk, [bytes.buffer]);
    } catch (err) {
      finish({ error: err instanceof Error ? err.message : String(err) });
    }
  };
  port.onmessage = (e: MessageEvent<Ask>) => {
    if ('cancel' in e.data) {
      finish(null);
      void reader.cancel().catch(() => {});
    } else queue = queue.then(sendOne);
  };
  port.postMessage({ ok: true } satisfies StreamReply);
}

/** `view` itself when its buffer may go with it, else a copy that owns its buffer. */
function transferable(view: Uint8Array, ownsBuffer: boolean): Uint8Array<ArrayBuffer> {
  const mayGo = ownsBuffer || (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength);
  return mayGo && view.buffer instanceof ArrayBuffer ? (view as Uint8Array<ArrayBuffer>) : view.slice();
}

/**
 * The stream a sender on the other end of `port` sends (sendStream), once its StreamReply
 * says ok; rejects with the sender's message otherwise.
 */
export function receiveStream(port: MessagePort): Promise<ReadableStream<Uint8Array>> {
  return new Promise((resolve, reject) => {
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    let started = false;
    let asked = 0; // chunks asked for and not yet here
    // Called on start, on every read and after every chunk queued: asks for what the
    // queue lacks beyond what is on its way.
    const askMore = () => {
      const want = (controller?.desiredSize ?? 0) - asked;
      for (let i = 0; i < want; i++) {
        asked++;
        port.postMessage({ pull: true } satisfies Ask);
      }
    };
    port.onmessage = (e: MessageEvent<StreamReply | Chunk>) => {
      const m = e.data;
      if (!started) {
        started = true;
        if ('ok' in m && m.ok) resolve(stream);
        else {
          port.close();
          reject(new Error('message' in m ? m.message : 'the stream could not be opened'));
        }
        return;
      }
      if ('chunk' in m) {
        asked--;
        controller?.enqueue(m.chunk);
        passedAlong(m.chunk.byteLength);
      } else if ('end' in m) {
        port.close();
        controller?.close();
      } else if ('error' in m) {
        port.close();
        controller?.error(new Error(m.error));
      }
    };
    const stream = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        pull: askMore,
        cancel() {
          port.postMessage({ cancel: true } satisfies Ask);
          port.close();
        },
      },
      { highWaterMark: QUEUED_CHUNKS },
    );
  });
}
