/**
 * A TCP proxy on 127.0.0.1 in front of a server's port, for tests about slow links and servers
 * that move: every piece of traffic can be delayed and rate-limited (both changeable while
 * connections are open), the target port can change (a restarted server listens elsewhere
 * behind the same public address), and open connections can be cut.
 *
 *   const p = await startProxy(serverPort, { delayMs: 150, bytesPerSec: 1_000_000 });
 *   p.port;                     // where clients connect
 *   p.toClient();               // bytes the server sent to clients so far
 *   p.throttle({});             // full speed from now on, for queued bytes too
 *   p.retarget(newPort);        // new connections go there
 *   p.cutAll();                 // drops every open connection
 *   await p.close();
 */
import net from 'node:net';

export interface Throttle {
  /** Added to every chunk, both ways (a distant server). */
  delayMs?: number;
  /** Server-to-client bytes per second (a thin link). */
  bytesPerSec?: number;
  /** Client-to-server bytes per second (a thin uplink; default unlimited). */
  upBytesPerSec?: number;
}

export interface TcpProxy {
  readonly port: number;
  /** Bytes the server sent to clients through this proxy so far. */
  toClient(): number;
  /** Changes the throttle of every connection, open or new. */
  throttle(t: Throttle): void;
  /** Where new connections go (null: refuse them, as a machine with nothing listening would). */
  retarget(targetPort: number | null): void;
  /** Drops every open connection, both ends. */
  cutAll(): void;
  close(): Promise<void>;
}

/** Larger chunks are cut so that a rate limit releases bytes smoothly. */
const PIECE = 16 * 1024;
/** Queued bytes per direction above which the source is paused: memory stays bounded. */
const HIGH_WATER = 256 * 1024;

/**
 * Moves bytes from `src` to `dst` in order, each piece no earlier than `delayMs` after it
 * arrived and no faster than `bytesPerSec` (both read from `t()` as pieces arrive).
 */
function pump(src: net.Socket, dst: net.Socket, t: () => Throttle, count?: (n: number) => void): void {
  const queue: { at: number; piece: Buffer }[] = [];
  let queued = 0;
  let nextFree = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0].at <= now) {
      const { piece } = queue.shift()!;
      queued -= piece.length;
      count?.(piece.length);
      if (!dst.destroyed) dst.write(piece);
    }
    if (queued < HIGH_WATER / 2 && src.isPaused()) src.resume();
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0].at - Date.now()));
    else if (src.readableEnded && !dst.destroyed) dst.end();
  };
  src.on('data', (chunk: Buffer) => {
    const now = Date.now();
    const { delayMs = 0, bytesPerSec } = t();
    for (let i = 0; i < chunk.length; i += PIECE) {
      const piece = chunk.subarray(i, i + PIECE);
      let at = now + delayMs;
      if (bytesPerSec) {
        nextFree = Math.max(nextFree, now) + (piece.length * 1000) / bytesPerSec;
        at = Math.max(at, nextFree);
      }
      queue.push({ at, piece });
      queued += piece.length;
    }
    if (queued > HIGH_WATER) src.pause();
    if (!timer) timer = setTimeout(flush, Math.max(0, queue[0].at - now));
  });
  src.on('end', () => {
    if (queue.length === 0 && !dst.destroyed) dst.end();
  });
  const stop = () => {
    if (timer) clearTimeout(timer);
    src.destroy();
    dst.destroy();
  };
  src.on('error', stop);
  src.on('close', () => {
    if (queue.length === 0) stop();
  });
  // A throttle lifted while bytes wait: release them at the new pace now, not at the old one.
  (src as net.Socket & { reschedule?: () => void }).reschedule = () => {
    const { delayMs = 0, bytesPerSec } = t();
    const now = Date.now();
    nextFree = now;
    for (const q of queue) {
      let at = now + Math.min(delayMs, Math.max(0, q.at - now));
      if (bytesPerSec) {
        nextFree += (q.piece.length * 1000) / bytesPerSec;
        at = Math.max(at, nextFree);
      }
      q.at = Math.min(q.at, at);
    }
    if (timer) clearTimeout(timer);
    timer = queue.length > 0 ? setTimeout(flush, Math.max(0, queue[0].at - now)) : undefined;
  };
}

/** A TCP proxy on 127.0.0.1 in front of `targetPort`. */
export function startProxy(targetPort: number | null, initial: Throttle = {}): Promise<TcpProxy> {
  let toClient = 0;
  let target = targetPort;
  let current = initial;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (target === null) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pump(client, upstream, () => ({ delayMs: current.delayMs, bytesPerSec: current.upBytesPerSec }));
    pump(
      upstream,
      client,
      () => current,
      (n) => {
        toClient += n;
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        toClient: () => toClient,
        throttle(t) {
          current = t;
          for (const s of sockets) (s as net.Socket & { reschedule?: () => void }).reschedule?.();
        },
        retarget(port) {
          target = port;
        },
        cutAll() {
          for (const s of sockets) s.destroy();
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
