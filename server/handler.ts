/**
 * Turns request frames into calls on the StorageServer and results into reply frames,
 * for any connection (direct WebSocket or a relay channel). Every frame gets exactly one
 * reply; nothing a peer sends can throw out of here.
 */
import { ProtocolError } from '../core/protocol/errors.ts';
import {
  decodeRequest,
  encodeAllocateResult,
  encodePutResults,
  encodeReadvResult,
  encodeBytesResultHead,
  encodeError,
  encodeReadTestWriteResult,
  encodeResult,
  type Request,
  RequestError,
  SERVER_FEATURES,
} from '../core/protocol/frames.ts';
import { type ServerKeyPair, signHandshake } from '../core/protocol/identity.ts';
import * as L from '../core/protocol/limits.ts';
import { StorageError } from '../core/protocol/storage-api.ts';
import { BufferPool } from '../core/primitives/buffer-pool.ts';
import { ThrottledLog } from '../relay/log-throttle.ts';
import type { StorageServer, UploadSession } from './storage-server.ts';

/** One connection's side of the handler. */
export interface Session {
  /** A frame arrived; its reply goes to the session's `send`. */
  frame(frame: Uint8Array): void;
  /** The connection ended. */
  close(): void;
}

/** A reply frame on its way out through a session's transport. */
export interface Reply {
  frame: Uint8Array;
  /**
   * Bytes just before `frame` in its buffer that the transport may write its own header into
   * (a read's reply has the session's `headroom`; other replies 0).
   */
  headroom: number;
  /** The transport has written the frame, or dropped it: its memory may be used again. */
  written(): void;
}

/** `written` of a reply whose buffer is not the pool's: nothing to give back. */
const NOT_POOLED = () => {};

/**
 * Read replies at least this large come from the handler's pool (a fresh zero-filled frame
 * for every 44 KiB block read cost a fifth of the server's CPU in bench:server); smaller
 * ones are cheap.
 */
const POOLED_REPLY_BYTES = 4 * 1024;

/** Request bytes one connection may have in the server's hands (twice what clients use). */
const SERVER_IN_FLIGHT_BYTES = 2 * L.MAX_IN_FLIGHT_BYTES;

export class RequestHandler {
  /**
   * Frames the server cannot read come only from broken or hostile peers, as fast as they
   * like: one line per 10 s says so, with a count (bench/fuzz.ts made a line of every other
   * frame, 47,000 lines for 100,000 frames, a disk filler for `cairn grid`'s log files).
   */
  private readonly badFrames: ThrottledLog;
  /**
   * Read replies' buffers, used again once the transport has written them: a fresh frame per
   * read is zero-filled memory outside V8's heap, and V8 collects per ~64 MiB of that.
   */
  private readonly frames = new BufferPool(32 * 1024 * 1024, { step: 64 * 1024 });

  constructor(
    private readonly server: StorageServer,
    private readonly key: ServerKeyPair,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.badFrames = new ThrottledLog(log);
  }

  /**
   * Opens a per-connection session that bounds requests and request bytes in flight.
   * With `flow` (a direct socket), reading pauses at the byte bound and resumes below it;
   * without (a relay channel, which shares its socket), frames over the bound are refused.
   * Clients stay under both bounds by themselves (limits.ts), so only a misbehaving one notices.
   * The transport calls `close()` when the connection ends: uploads it started then wait
   * a short grace for the client to reconnect, and are aborted after it.
   */
  session(
    send: (reply: Reply) => void,
    opts: { flow?: { pause(): void; resume(): void }; headroom?: number } = {},
  ): Session {
    const { flow, headroom = 0 } = opts;
    const uploads = this.server.openSession();
    let requests = 0;
    let bytes = 0;
    let paused = false;
    return {
      frame: (frame) => {
        if (
          requests >= L.MAX_IN_FLIGHT_REQUESTS ||
          (!flow && bytes + frame.length > SERVER_IN_FLIGHT_BYTES)
        ) {
          send({
            frame: encodeError(
              safePeekId(frame),
              'UNAVAILABLE',
              'too many requests in flight on this connection',
            ),
            headroom: 0,
            written: NOT_POOLED,
          });
          return;
        }
        requests++;
        bytes += frame.length;
        if (flow && !paused && bytes > SERVER_IN_FLIGHT_BYTES) {
          paused = true;
          flow.pause();
        }
        void this.reply(frame, uploads, headroom).then((reply) => {
          requests--;
          bytes -= frame.length;
          if (paused && bytes <= SERVER_IN_FLIGHT_BYTES / 2) {
            paused = false;
            flow?.resume();
          }
          send(reply);
        });
      },
      close: () => this.server.closeSession(uploads),
    };
  }

  /** One frame in, one reply frame out; uploads are held by `uploads` (the connection). */
  async handle(frame: Uint8Array, uploads: UploadSession): Promise<Uint8Array> {
    return (await this.reply(frame, uploads, 0)).frame;
  }

  private async reply(frame: Uint8Array, uploads: UploadSession, headroom: number): Promise<Reply> {
    const asReply = (r: Uint8Array | Encoded): Reply => {
      if (!(r instanceof Encoded)) return { frame: r, headroom: 0, written: NOT_POOLED };
      // The transport says when it has written a read's frame, so that it can be used again
      // (the pool keeps only buffers of the capacities it makes: a small or short read's
      // frame is not kept).
      return { frame: r.frame, headroom: r.headroom, written: () => this.frames.give(r.frame) };
    };
    let req: Request;
    try {
      req = decodeRequest(frame);
    } catch (err) {
      const id = err instanceof RequestError ? err.id : 0;
      const message = err instanceof ProtocolError ? err.message : 'unreadable frame';
      this.badFrames.note(`bad frame (${frame.length} bytes): ${message}`);
      return asReply(encodeError(id, 'BAD_REQUEST', message));
    }
    try {
      const result = await this.run(req, uploads, headroom);
      return asReply(result instanceof Encoded ? result : encodeResult(req.id, result));
    } catch (err) {
      if (err instanceof StorageError) return asReply(encodeError(req.id, err.code, err.message));
      if (err instanceof ProtocolError) return asReply(encodeError(req.id, 'BAD_REQUEST', err.message));
      this.log(`internal error in ${req.op}: ${(err as Error).message}`);
      return asReply(
        encodeError(req.id, 'UNAVAILABLE', `the server failed to ${req.op}; try another server`),
      );
    }
  }

  private async run(req: Request, uploads: UploadSession, headroom: number): Promise<unknown> {
    const s = this.server;
    switch (req.op) {
      case 'hello':
        return {
          serverId: this.key.serverId,
          signature: signHandshake(this.key, req.args.challenge),
          features: SERVER_FEATURES,
        };
      case 'version': {
        const v = await s.version();
        return {
          maxImmutable: v.maximumImmutableShareSize,
          maxMutable: v.maximumMutableShareSize,
          available: v.availableSpace,
          app: v.applicationVersion,
        };
      }
      case 'allocate':
        return encodeAllocateResult(await s.allocate(req.args, uploads));
      case 'write':
        return (req.args.close ? s.writeAndClose(req.args, uploads) : s.write(req.args, uploads)).then(
          () => null,
        );
      case 'close':
        return s.close(req.args, uploads).then(() => null);
      case 'abort':
        return s.abort(req.args, uploads).then(() => null);
      case 'list':
        return s.listImmutable(req.args.si);
      case 'read':
        return this.readIntoFrame(req.id, headroom, (place) => s.readImmutable(req.args, place));
      case 'lease':
        return s.addLease(req.args).then(() => null);
      case 'corrupt':
        return s.adviseCorrupt(req.args).then(() => null);
      case 'rtw': {
        const r = await s.readTestWrite(req.args);
        return encodeReadTestWriteResult(r.success, r.data);
      }
      case 'mlist':
        return s.listMutable(req.args.si);
      case 'mread':
        return this.readIntoFrame(req.id, headroom, (place) => s.readMutable(req.args, place));
      case 'mreadv':
        return encodeReadvResult(await s.readMutableAll(req.args));
      case 'put':
        return encodePutResults(await s.put(req.args.files, uploads));
    }
  }

  /**
   * A read's reply: the frame is laid out first, `headroom` bytes into its buffer, and the
   * share bytes read straight into it.
   */
  private async readIntoFrame(
    id: number,
    headroom: number,
    read: (place: (n: number) => Uint8Array) => Promise<Uint8Array>,
  ): Promise<Encoded> {
    let frame: Uint8Array = new Uint8Array(0);
    let placed = 0;
    const got = await read((n) => {
      const head = encodeBytesResultHead(id, n);
      const size = headroom + head.length + n;
      frame = (size >= POOLED_REPLY_BYTES ? this.frames.take(size) : new Uint8Array(size)).subarray(headroom);
      frame.set(head);
      placed = n;
      return frame.subarray(head.length);
    });
    // Fewer bytes than the frame was laid out for (a share cut short): encoded as they are.
    return got.length === placed ? new Encoded(frame, headroom) : new Encoded(encodeResult(id, got), 0);
  }
}

/** A reply already encoded by the operation itself, with `headroom` free bytes before it. */
class Encoded {
  constructor(
    readonly frame: Uint8Array,
    readonly headroom: number,
  ) {}
}

function safePeekId(frame: Uint8Array): number {
  try {
    return decodeRequest(frame).id;
  } catch (err) {
    return err instanceof RequestError ? err.id : 0;
  }
}
