/**
 * Ranged GETs of objects, the S3 backend's hot read path, signed with AWS Signature Version 4
 * and sent over keep-alive connections of our own whose socket reads land in the caller's
 * memory, instead of through @aws-sdk/client-s3: the SDK's per-request middleware, stream
 * wrappers and fresh buffers cost 7-8 CPU-s per GB of 512 KiB ranged reads from radosgw,
 * node:http with a keep-alive agent 2.3-3.4, and node:http's parser and per-read buffers
 * still ~1.2-2 user CPU-s per GB where reads into the caller's memory take 0.1-0.4 (scratch
 * drivers, 2026-12-06). Everything else (writes, conditional puts, listings, multipart)
 * stays on the SDK.
 *
 * `signedGetHeaders` is pure (time and secrets in, headers out); `RangeGetter` is the I/O.
 */
import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { concatBytes } from '../../core/primitives/bytes.ts';

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedGet {
  /** Host header as sent: `host[:port]`. */
  host: string;
  /** The request path, already URI-encoded as S3 wants it (see `s3ObjectPath`). */
  path: string;
  /** Range header value, e.g. `bytes=0-9`. */
  range: string;
  region: string;
  credentials: SigV4Credentials;
  /** The request's time (the signature is valid around it only). */
  date: Date;
}

/** SHA-256 of the empty body, as a GET's x-amz-content-sha256. */
const EMPTY_BODY_SHA256 = createHash('sha256').update('').digest('hex');

/** S3's URI encoding of one path segment (RFC 3986 unreserved characters kept). */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The path-style request path of `key` in `bucket` (a key's slashes stay slashes). */
export function s3ObjectPath(bucket: string, key: string): string {
  return `/${encodeSegment(bucket)}/${key.split('/').map(encodeSegment).join('/')}`;
}

/** The headers of a signed GET with a Range (Authorization, x-amz-date, x-amz-content-sha256, range). */
export function signedGetHeaders(req: SignedGet): Record<string, string> {
  const amzDate = req.date.toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const signed: Record<string, string> = {
    host: req.host,
    range: req.range,
    'x-amz-content-sha256': EMPTY_BODY_SHA256,
    'x-amz-date': amzDate,
  };
  const names = Object.keys(signed).sort();
  const canonical = [
    'GET',
    req.path,
    '',
    ...names.map((h) => `${h}:${signed[h].trim()}`),
    '',
    names.join(';'),
    EMPTY_BODY_SHA256,
  ].join('\n');
  const scope = `${day}/${req.region}/s3/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${req.credentials.secretAccessKey}`).update(day).digest();
  for (const part of [req.region, 's3', 'aws4_request'])
    key = createHmac('sha256', key).update(part).digest();
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return {
    range: signed.range,
    'x-amz-content-sha256': signed['x-amz-content-sha256'],
    'x-amz-date': amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${req.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}

/**
 * A ranged GET that failed: `status` is the store's HTTP status (absent when no answer came);
 * `name` is the S3 error code when the store gave one, 'TimeoutError' when it went quiet.
 */
export class RangeGetError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface RangeGetterOptions {
  endpoint: string;
  bucket: string;
  region: string;
  credentials: SigV4Credentials;
  /** How long connecting may take. */
  connectTimeoutMs: number;
  /** How long an answer may go without a byte. */
  idleTimeoutMs: number;
  /** Tries of a read that failed on the network, timed out or got a 5xx (reads are idempotent). */
  attempts: number;
}

/** Idle connections kept for later GETs. */
const MAX_IDLE_SOCKETS = 64;
/** The most a status line and headers may take. */
const MAX_HEAD_BYTES = 16 * 1024;
/** What an error answer's body is read up to (for its S3 error code). */
const MAX_ERROR_BODY_BYTES = 4 * 1024;

/** One GET on a connection: where its answer stands. */
interface Exchange {
  key: string;
  position: number;
  target: Uint8Array;
  /** Bytes of the status line and headers so far (in the connection's `head`). */
  headBytes: number;
  status: number;
  /** Body bytes the answer has (Content-Length); -1 until the head is read. */
  bodyLength: number;
  /** Body bytes seen so far. */
  seen: number;
  /** Body bytes placed in `target` so far. */
  got: number;
  keepAlive: boolean;
  errorBody: Uint8Array[];
  resolve(got: number): void;
  reject(err: Error): void;
}

interface Connection {
  socket: net.Socket;
  head: Buffer;
  spare: Uint8Array;
  /** The GET under way, or null while idle. */
  exchange: Exchange | null;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * GETs of ranges over keep-alive HTTP/1.1 connections whose socket reads land straight in
 * the caller's memory (net/tls `onread`): a 206 answer's body is never in a buffer of
 * Node's. Only what ranged GETs of S3 need: Content-Length bodies, keep-alive, and the
 * status and S3 error code of a refusal.
 */
export class RangeGetter {
  private readonly url: URL;
  private readonly port: number;
  private readonly secure: boolean;
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private closed = false;

  constructor(private readonly o: RangeGetterOptions) {
    this.url = new URL(o.endpoint);
    this.secure = this.url.protocol === 'https:';
    this.port = Number(this.url.port) || (this.secure ? 443 : 80);
  }

  /** Reads `target.length` bytes of object `key` from `position` into `target`; returns how many came. */
  async read(key: string, position: number, target: Uint8Array): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(key, position, target);
      } catch (err) {
        const e = err as RangeGetError;
        const transient = !(e instanceof RangeGetError) || e.status === undefined || e.status >= 500;
        if (!transient || attempt >= this.o.attempts || this.closed) throw err;
      }
    }
  }

  private once(key: string, position: number, target: Uint8Array): Promise<number> {
    // An endpoint with a path of its own (a store behind a proxy) keeps it in front.
    const path = `${this.url.pathname.replace(/\/+$/, '')}${s3ObjectPath(this.o.bucket, key)}`;
    const headers = signedGetHeaders({
      host: this.url.host,
      path,
      range: `bytes=${position}-${position + target.length - 1}`,
      region: this.o.region,
      credentials: this.o.credentials,
      date: new Date(),
    });
    let request = `GET ${path} HTTP/1.1\r\nhost: ${this.url.host}\r\n`;
    for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
    request += '\r\n';
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new RangeGetError('Closed', 'the object store client is closed'));
        return;
      }
      const c = this.idle.pop() ?? this.connect();
      c.exchange = {
        key,
        position,
        target,
        headBytes: 0,
        status: 0,
        bodyLength: -1,
        seen: 0,
        got: 0,
        keepAlive: true,
        errorBody: [],
        resolve,
        reject,
      };
      c.socket.setTimeout(c.socket.connecting ? this.o.connectTimeoutMs : this.o.idleTimeoutMs);
      c.socket.write(request, 'latin1');
    });
  }

  private connect(): Connection {
    const c: Connection = {
      socket: undefined as unknown as net.Socket,
      head: Buffer.alloc(MAX_HEAD_BYTES),
      spare: new Uint8Array(64 * 1024),
      exchange: null,
    };
    const onread = {
      // Where the next socket read lands: the head, the caller's memory, or a spare buffer.
      buffer: () => this.nextBuffer(c),
      callback: (n: number, buf: Uint8Array) => {
        this.received(c, buf.subarray(0, n));
      },
    };
    // An IPv6 literal is bracketed in a URL, not in a socket address.
    const options = { host: this.url.hostname.replace(/^\[(.*)\]$/, '$1'), port: this.port, onread };
    c.socket = this.secure
      ? tls.connect(net.isIP(options.host) ? options : { ...options, servername: options.host })
      : net.connect(options as net.NetConnectOpts);
    c.socket.setNoDelay(true);
    c.socket.once(this.secure ? 'secureConnect' : 'connect', () => c.socket.setTimeout(this.o.idleTimeoutMs));
    c.socket.on('timeout', () =>
      this.fail(c, new RangeGetError('TimeoutError', `GET ${c.exchange?.key ?? ''}: the store went quiet`)),
    );
    c.socket.on('error', (err) => this.fail(c, err));
    c.socket.on('close', () =>
      this.fail(c, new RangeGetError('ConnectionClosed', 'the store closed the connection mid-answer')),
    );
    this.open.add(c);
    return c;
  }

  private nextBuffer(c: Connection): Uint8Array {
    const x = c.exchange;
    if (x && x.bodyLength < 0) return c.head.subarray(x.headBytes);
    if (x && x.status === 206 && x.got < x.target.length) return x.target.subarray(x.got);
    return c.spare;
  }

  /** Bytes `data` came on `c` (wherever nextBuffer had them land). */
  private received(c: Connection, data: Uint8Array): void {
    const x = c.exchange;
    if (!x) {
      this.fail(c, new RangeGetError('Unexpected', 'the store sent bytes nobody asked for'));
      return;
    }
    if (x.bodyLength < 0) {
      // The head may have landed elsewhere (the read's memory was chosen before this GET).
      if (data.buffer !== c.head.buffer || data.byteOffset !== c.head.byteOffset + x.headBytes) {
        c.head.set(data.subarray(0, c.head.length - x.headBytes), x.headBytes);
      }
      const before = x.headBytes;
      x.headBytes = Math.min(c.head.length, x.headBytes + data.length);
      const end = c.head.subarray(0, x.headBytes).indexOf(CRLF2, Math.max(0, before - 3));
      if (end < 0) {
        if (x.headBytes === c.head.length)
          this.fail(c, new RangeGetError('BadAnswer', 'the store sent an over-long head'));
        return;
      }
      const problem = this.parseHead(x, c.head.subarray(0, end));
      if (problem) {
        this.fail(c, problem);
        return;
      }
      // Body bytes that came in the same read as the end of the head.
      const early = data.subarray(end + 4 - before);
      if (early.length > 0) this.body(x, early, false);
    } else {
      this.body(x, data, x.status === 206 && data.buffer === x.target.buffer);
    }
    if (x.bodyLength >= 0 && x.seen >= x.bodyLength) this.finish(c, x);
  }

  /** Reads status and headers; returns an error when the answer cannot be read as one. */
  private parseHead(x: Exchange, head: Uint8Array): RangeGetError | null {
    const lines = new TextDecoder('latin1').decode(head).split('\r\n');
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
    if (!status) return new RangeGetError('BadAnswer', 'the store sent something other than HTTP/1.1');
    x.status = Number(status[2]);
    x.keepAlive = status[1] === '1'; // HTTP/1.0 closes unless it says otherwise
    let length = -1;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'connection')
        x.keepAlive =
          value.toLowerCase() === 'keep-alive' || (x.keepAlive && value.toLowerCase() !== 'close');
      else if (name === 'transfer-encoding') length = -2;
    }
    if (length === -2 || !Number.isSafeInteger(length) || length < 0) {
      // Only a refusal may come without a length this client reads; it is answered by status.
      if (x.status === 200 || x.status === 206) {
        return new RangeGetError('BadAnswer', 'the store answered a ranged GET without a Content-Length');
      }
      x.keepAlive = false;
      length = 0;
    }
    x.bodyLength = length;
    return null;
  }

  /** Body bytes: placed in the target (a 206, or a 200 from `position` on), or kept (a refusal). */
  private body(x: Exchange, data: Uint8Array, inPlace: boolean): void {
    const from = x.seen;
    x.seen += data.length;
    if (x.status === 206) {
      const n = Math.min(data.length, x.target.length - x.got);
      if (!inPlace && n > 0) x.target.set(data.subarray(0, n), x.got);
      x.got += n;
    } else if (x.status === 200) {
      // A store that ignores Range sends the whole object: the part from `position` is ours.
      const start = Math.max(from, x.position);
      const stop = Math.min(x.seen, x.position + x.target.length);
      if (stop > start) {
        x.target.set(data.subarray(start - from, stop - from), start - x.position);
        x.got = stop - x.position;
      }
    } else if (from < MAX_ERROR_BODY_BYTES) {
      x.errorBody.push(data.slice(0, MAX_ERROR_BODY_BYTES - from));
    }
  }

  private finish(c: Connection, x: Exchange): void {
    c.exchange = null;
    if (x.keepAlive && this.idle.length < MAX_IDLE_SOCKETS && !this.closed) this.idle.push(c);
    else this.drop(c);
    if (x.status === 206 || x.status === 200) {
      x.resolve(x.got);
      return;
    }
    const text = new TextDecoder().decode(concatBytes(...x.errorBody));
    const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
    x.reject(new RangeGetError(code ?? `HTTP${x.status}`, `GET ${x.key}: HTTP ${x.status}`, x.status));
  }

  /** The connection is unusable: its GET (if any) fails with `err`. */
  private fail(c: Connection, err: Error): void {
    const x = c.exchange;
    c.exchange = null;
    this.drop(c);
    x?.reject(err);
  }

  private drop(c: Connection): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.open.delete(c)) c.socket.destroy();
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.open])
      this.fail(c, new RangeGetError('Closed', 'the object store client is closed'));
  }
}
