/**
 * The client end of the storage protocol: StorageServerApi over any Transport.
 * Requests are multiplexed on one connection by id; in-flight bytes and requests are
 * bounded (limits.ts), so a fast uploader waits instead of piling frames in memory.
 * The connection is only handed out after the server has proved, by signing a fresh
 * challenge, that it holds the key behind the expected ServerId.
 */
import { BufferPool } from '../primitives/buffer-pool.ts';
import { concatBytes } from '../primitives/bytes.ts';
import type { ServerId, ShareNum, StorageIndex } from '../types.ts';
import { Fields } from './cbor.ts';
import { ProtocolError } from './errors.ts';
import {
  decodeAllocateResult,
  decodePutResults,
  decodeReadTestWriteResult,
  decodeReadvResult,
  decodeReply,
  encodeRequest,
  FEATURE_ALLOCATE_HELD,
  FEATURE_MUTABLE_READV,
  FEATURE_PUT,
  FEATURE_WRITE_CLOSE,
  MAX_FEATURE_CHARS,
  MAX_FEATURES,
  type Op,
  type OpArgs,
  shareList,
} from './frames.ts';
import { verifyHandshake } from './identity.ts';
import * as L from './limits.ts';
import {
  type AllocateResult,
  type LeaseSecrets,
  type MutableSecrets,
  type ReadTestWriteResult,
  type ReadVector,
  type ServerVersion,
  type ShareTestWrite,
  StorageError,
  type StorageServerApi,
  type UploadSecrets,
  type WholeShares,
  type WholeSharesResult,
} from './storage-api.ts';
import { openWebSocketTransport, safeUrl, type Transport, type WebSocketConstructor } from './transport.ts';

export interface ConnectOptions {
  /** Platform WebSocket override (tests, unusual runtimes). */
  WebSocket?: WebSocketConstructor;
  /** Per-request timeout (default 60 s). A stalled server fails with TIMEOUT. */
  requestTimeoutMs?: number;
  /** Connect + handshake timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** In-flight request bytes before calls wait (default limits.MAX_IN_FLIGHT_BYTES). */
  maxInFlightBytes?: number;
}

export interface StorageConnection extends StorageServerApi {
  /** Ends the connection; pending calls reject with UNAVAILABLE. */
  close(): void;
  /** Resolves when the connection ends, for whatever reason. */
  readonly closed: Promise<string>;
  readonly isClosed: boolean;
}

/** Opens a WebSocket to `url` (a server's direct URL or a relay route) and checks the server's identity. */
export async function connectStorageServer(
  url: string,
  expectedServerId: ServerId,
  opts: ConnectOptions = {},
): Promise<StorageConnection> {
  const transport = await openWebSocketTransport(url, {
    WebSocket: opts.WebSocket,
    openTimeoutMs: opts.connectTimeoutMs,
  });
  return connectOverTransport(transport, expectedServerId, opts, safeUrl(url));
}

/** The same, over an already-open transport. */
export async function connectOverTransport(
  transport: Transport,
  expectedServerId: ServerId,
  opts: ConnectOptions = {},
  where = 'the server',
): Promise<StorageConnection> {
  const conn = new Connection(transport, expectedServerId, opts, where);
  try {
    await conn.handshake(opts.connectTimeoutMs ?? 10_000);
  } catch (err) {
    conn.close();
    throw err;
  }
  return conn;
}

/**
 * Frames of share writes (up to MAX_WRITE_BYTES each) and of batched small files (a
 * different size each time, hence capacities in 64 KiB steps) come from here and go back
 * once the transport has sent them: an upload of 256 MiB made ~850 MiB of fresh frame
 * buffers otherwise. Smaller frames are not worth pooling.
 */
const framePool = new BufferPool(16 * 1024 * 1024, { step: 64 * 1024 });
const POOLED_FRAME_BYTES = 64 * 1024;
const allocFrame = (size: number) =>
  size >= POOLED_FRAME_BYTES ? framePool.take(size) : new Uint8Array(size);

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  bytes: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

class Connection implements StorageConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private inFlightBytes = 0;
  private waiters: Array<() => void> = [];
  private closeReason: string | null = null;
  private resolveClosed!: (reason: string) => void;
  readonly closed = new Promise<string>((r) => {
    this.resolveClosed = r;
  });
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  /** What the server's hello answer listed (frames.ts SERVER_FEATURES). */
  private features = new Set<string>();

  constructor(
    private readonly transport: Transport,
    readonly serverId: ServerId,
    opts: ConnectOptions,
    private readonly where: string,
  ) {
    this.timeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.maxInFlight = opts.maxInFlightBytes ?? L.MAX_IN_FLIGHT_BYTES;
    transport.onFrame = (frame) => this.onFrame(frame);
    transport.onClose = (reason) => this.shutdown(reason);
  }

  /** call() frames a request as it is made: a write's bytes are copied before it returns. */
  readonly readsWritesAtOnce = true;

  get allocateAnswersHeld(): boolean {
    return this.features.has(FEATURE_ALLOCATE_HELD);
  }

  get acceptsPut(): boolean {
    return this.features.has(FEATURE_PUT);
  }

  get isClosed(): boolean {
    return this.closeReason !== null;
  }

  async handshake(timeoutMs: number): Promise<void> {
    const challenge = crypto.getRandomValues(new Uint8Array(L.HANDSHAKE_CHALLENGE_BYTES));
    let result: unknown;
    try {
      result = await this.call('hello', { challenge }, timeoutMs);
    } catch (err) {
      throw new ProtocolError(
        'HANDSHAKE_FAILED',
        `${this.where} did not complete the handshake: ${(err as Error).message}`,
      );
    }
    const f = new Fields(result, 'hello result');
    const claimed = f.string('serverId', 100);
    const signature = f.bytes('signature', 64);
    // Servers from before features list none; what a client does not know it ignores.
    const features = f.has('features') ? f.array('features', MAX_FEATURES) : [];
    this.features = new Set(
      features.filter((x): x is string => typeof x === 'string' && x.length <= MAX_FEATURE_CHARS),
    );
    if (claimed !== this.serverId || !verifyHandshake(this.serverId, challenge, signature)) {
      throw new ProtocolError(
        'HANDSHAKE_FAILED',
        `${this.where} could not prove it is server ${this.serverId.slice(0, 12)}…; not using it`,
      );
    }
  }

  close(): void {
    this.shutdown('closed by the client');
    this.transport.close();
  }

  private shutdown(reason: string): void {
    if (this.closeReason !== null) return;
    this.closeReason = reason;
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new StorageError('UNAVAILABLE', `server ${this.serverId.slice(0, 12)}…: ${reason}`));
    }
    this.pending.clear();
    this.inFlightBytes = 0;
    for (const w of this.waiters) w();
    this.waiters = [];
    this.resolveClosed(reason);
  }

  private onFrame(frame: Uint8Array): void {
    let reply: ReturnType<typeof decodeReply>;
    try {
      reply = decodeReply(frame);
    } catch {
      // A server that sends garbage is not one to keep talking to.
      this.shutdown('the server sent a malformed frame');
      this.transport.close();
      return;
    }
    if (reply.id === 0 && !reply.ok) {
      // The server could not read one of our frames: a bug on one side; fail everything.
      this.shutdown(`the server rejected a frame: ${reply.message}`);
      this.transport.close();
      return;
    }
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (p.timer) clearTimeout(p.timer);
    this.release(p.bytes);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new StorageError(reply.code, reply.message));
  }

  private release(bytes: number): void {
    this.inFlightBytes -= bytes;
    while (this.waiters.length > 0 && this.hasRoom()) this.waiters.shift()!();
  }

  private hasRoom(): boolean {
    return this.inFlightBytes < this.maxInFlight && this.pending.size < L.MAX_IN_FLIGHT_REQUESTS;
  }

  /** Sends one request; `replyBytes` is the reply size expected, counted against the in-flight bound. */
  private async call<K extends Op>(
    op: K,
    args: OpArgs[K],
    timeoutMs = this.timeoutMs,
    replyBytes = 0,
  ): Promise<unknown> {
    // Framed before any wait for room, so that the caller's bytes have been read when this
    // returns (readsWritesAtOnce).
    const id = this.nextId++;
    const frame = encodeRequest(id, op, args, allocFrame);
    const giveBack = frame.length >= POOLED_FRAME_BYTES ? () => framePool.give(frame) : undefined;
    if (frame.length > L.MAX_FRAME_BYTES) {
      giveBack?.();
      throw new StorageError('TOO_LARGE', `a ${op} request of ${frame.length} bytes exceeds the frame limit`);
    }
    while (this.closeReason === null && !this.hasRoom()) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.closeReason !== null) {
      giveBack?.();
      throw new StorageError('UNAVAILABLE', `server ${this.serverId.slice(0, 12)}…: ${this.closeReason}`);
    }
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { resolve, reject, bytes: frame.length + replyBytes, timer: undefined };
      p.timer = setTimeout(() => {
        if (this.pending.delete(id)) {
          this.release(p.bytes);
          reject(
            new StorageError(
              'TIMEOUT',
              `server ${this.serverId.slice(0, 12)}… did not answer ${op} in ${timeoutMs} ms`,
            ),
          );
        }
      }, timeoutMs);
      this.pending.set(id, p);
      this.inFlightBytes += p.bytes;
      this.transport.send(frame, giveBack);
    });
  }

  /** Checks a result's shape; a malformed one is the server's fault: StorageError, not a crash. */
  private check<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ProtocolError) {
        throw new StorageError(
          'BAD_REQUEST',
          `server ${this.serverId.slice(0, 12)}… sent a malformed ${op} result: ${err.message}`,
        );
      }
      throw err;
    }
  }

  // ---- StorageServerApi -------------------------------------------------------------

  async getVersion(): Promise<ServerVersion> {
    const r = await this.call('version', {});
    return this.check('version', () => {
      const f = new Fields(r, 'version');
      return {
        maximumImmutableShareSize: f.uint('maxImmutable', Number.MAX_SAFE_INTEGER),
        maximumMutableShareSize: f.uint('maxMutable', Number.MAX_SAFE_INTEGER),
        availableSpace: f.uint('available', Number.MAX_SAFE_INTEGER),
        applicationVersion: f.string('app', 200),
      };
    });
  }

  async allocateBuckets(
    si: StorageIndex,
    secrets: UploadSecrets,
    shareNums: ShareNum[],
    allocatedSize: number,
  ): Promise<AllocateResult> {
    const r = await this.call('allocate', {
      si,
      renew: secrets.renew,
      cancel: secrets.cancel,
      upload: secrets.upload,
      shares: shareNums,
      size: allocatedSize,
    });
    return this.check('allocate', () => decodeAllocateResult(r, shareNums, allocatedSize));
  }

  async writeShare(
    si: StorageIndex,
    sh: ShareNum,
    upload: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<void> {
    // Split big writes so every frame stays under the limit; they still pipeline.
    if (data.length <= L.MAX_WRITE_BYTES) {
      await this.call('write', { si, sh, upload, offset, data });
      return;
    }
    const parts: Promise<unknown>[] = [];
    for (let at = 0; at < data.length; at += L.MAX_WRITE_BYTES) {
      const chunk = data.subarray(at, at + L.MAX_WRITE_BYTES);
      parts.push(this.call('write', { si, sh, upload, offset: offset + at, data: chunk }));
    }
    await Promise.all(parts);
  }

  /** One request where the server lists FEATURE_WRITE_CLOSE and the data fits one frame; else two. */
  async writeShareAndClose(
    si: StorageIndex,
    sh: ShareNum,
    upload: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<void> {
    if (this.features.has(FEATURE_WRITE_CLOSE) && data.length <= L.MAX_WRITE_BYTES) {
      await this.call('write', { si, sh, upload, offset, data, close: true });
      return;
    }
    await this.writeShare(si, sh, upload, offset, data);
    await this.closeShare(si, sh, upload);
  }

  async putShares(files: WholeShares[]): Promise<WholeSharesResult[]> {
    if (!this.acceptsPut)
      throw new StorageError('UNAVAILABLE', `${this.where} does not take several files at once`);
    const r = await this.call('put', {
      files: files.map((f) => ({
        si: f.si,
        renew: f.secrets.renew,
        cancel: f.secrets.cancel,
        upload: f.secrets.upload,
        size: f.size,
        shares: f.shares,
      })),
    });
    return this.check('put', () => decodePutResults(r, files));
  }

  async closeShare(si: StorageIndex, sh: ShareNum, upload: Uint8Array): Promise<void> {
    await this.call('close', { si, sh, upload });
  }

  async abortShare(si: StorageIndex, sh: ShareNum, upload: Uint8Array): Promise<void> {
    await this.call('abort', { si, sh, upload });
  }

  async listShares(si: StorageIndex): Promise<ShareNum[]> {
    const r = await this.call('list', { si });
    return this.check('list', () => shareList(r, 'share list'));
  }

  readShare(si: StorageIndex, sh: ShareNum, offset: number, length: number): Promise<Uint8Array> {
    return this.readRange('read', si, sh, offset, length);
  }

  readMutableShare(si: StorageIndex, sh: ShareNum, offset: number, length: number): Promise<Uint8Array> {
    return this.readRange('mread', si, sh, offset, length);
  }

  private async readRange(
    op: 'read' | 'mread',
    si: StorageIndex,
    sh: ShareNum,
    offset: number,
    length: number,
  ): Promise<Uint8Array> {
    const parts: Promise<unknown>[] = [];
    for (let at = 0; at < length || (length === 0 && at === 0); at += L.MAX_READ_BYTES) {
      const n = Math.min(L.MAX_READ_BYTES, length - at);
      parts.push(this.call(op, { si, sh, offset: offset + at, length: n }, this.timeoutMs, n));
      if (length === 0) break;
    }
    const chunks = (await Promise.all(parts)).map((r, i) => {
      if (!(r instanceof Uint8Array))
        throw new StorageError('BAD_REQUEST', 'the server answered a read with something other than bytes');
      const asked = Math.min(L.MAX_READ_BYTES, length - i * L.MAX_READ_BYTES);
      if (r.length > asked)
        throw new StorageError('BAD_REQUEST', 'the server returned more bytes than asked for');
      return r;
    });
    // A short chunk means the share ended there; later chunks must then be empty.
    let end = chunks.length;
    for (let i = 0; i < chunks.length; i++) {
      if (chunks[i].length < Math.min(L.MAX_READ_BYTES, length - i * L.MAX_READ_BYTES)) {
        end = i + 1;
        break;
      }
    }
    return end === 1 ? chunks[0] : concatBytes(...chunks.slice(0, end));
  }

  async addLease(si: StorageIndex, secrets: LeaseSecrets): Promise<void> {
    await this.call('lease', { si, renew: secrets.renew, cancel: secrets.cancel });
  }

  async adviseCorruptShare(
    kind: 'immutable' | 'mutable',
    si: StorageIndex,
    sh: ShareNum,
    reason: string,
  ): Promise<void> {
    await this.call('corrupt', { kind, si, sh, reason: reason.slice(0, L.MAX_REASON_CHARS) });
  }

  async readTestWrite(
    si: StorageIndex,
    secrets: MutableSecrets,
    testWrite: Map<ShareNum, ShareTestWrite>,
    readVector: ReadVector[],
  ): Promise<ReadTestWriteResult> {
    const r = await this.call('rtw', {
      si,
      writeEnabler: secrets.writeEnabler,
      renew: secrets.renew,
      cancel: secrets.cancel,
      testWrite,
      readVector,
    });
    return this.check('read-test-write', () => decodeReadTestWriteResult(r));
  }

  async listMutableShares(si: StorageIndex): Promise<ShareNum[]> {
    const r = await this.call('mlist', { si });
    return this.check('mutable list', () => shareList(r, 'mutable share list'));
  }

  async readMutableShares(
    si: StorageIndex,
    offset: number,
    length: number,
  ): Promise<Map<ShareNum, Uint8Array>> {
    if (!Number.isSafeInteger(length) || length < 0 || length > L.MAX_READV_BYTES) {
      throw new StorageError(
        'BAD_REQUEST',
        `a read of every share is at most ${L.MAX_READV_BYTES} bytes each`,
      );
    }
    if (this.features.has(FEATURE_MUTABLE_READV)) {
      // Counted in flight as one share's range: servers hold one or two shares of a file.
      const r = await this.call('mreadv', { si, offset, length }, this.timeoutMs, length);
      return this.check('mutable readv', () => decodeReadvResult(r, length));
    }
    // A server from before `mreadv`: the listing, then each share's range.
    const shnums = await this.listMutableShares(si);
    const reads = await Promise.all(shnums.map((sh) => this.readMutableShare(si, sh, offset, length)));
    return new Map(shnums.map((sh, i) => [sh, reads[i]]));
  }
}
