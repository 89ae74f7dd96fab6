/**
 * One transport interface for every way of reaching a server: an ordered, reliable
 * channel of binary frames. WebSocket (direct or through the relay) implements it today;
 * WebTransport can later, behind the same shape.
 */
import { sendThenRelease, WebSocketImpl } from '#ws';
import { ProtocolError } from './errors.ts';

export interface Transport {
  /**
   * Queues one frame. Never throws once open; a failure shows up as onClose. `onSent`, if
   * given, is called once the transport no longer reads `frame`'s bytes, so the caller may
   * reuse the buffer; it may never be called (a closed channel, an unknown WebSocket).
   */
  send(frame: Uint8Array, onSent?: () => void): void;
  /** Bytes queued but not yet handed to the network (back-pressure signal). */
  readonly bufferedAmount: number;
  /** Set by the owner: called once per received frame. */
  onFrame: (frame: Uint8Array) => void;
  /** Set by the owner: called once when the channel ends, with a reason for people. */
  onClose: (reason: string) => void;
  close(): void;
}

/** The browser WebSocket's shape, which `ws` in Node also offers. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WebSocketTransportOptions {
  /** Overrides the platform's WebSocket (global in browsers, `ws` in Node). */
  WebSocket?: WebSocketConstructor;
  /** Gives up opening after this long (default 10 s). */
  openTimeoutMs?: number;
}

const OPEN = 1;

/** Opens a WebSocket to `url` and resolves once it is open. */
export function openWebSocketTransport(
  url: string,
  opts: WebSocketTransportOptions = {},
): Promise<Transport> {
  const Ctor = opts.WebSocket ?? (WebSocketImpl as WebSocketConstructor | undefined);
  if (!Ctor) return Promise.reject(new ProtocolError('CONNECTION_FAILED', 'this platform has no WebSocket'));
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = new Ctor(url);
    } catch (err) {
      reject(
        new ProtocolError('CONNECTION_FAILED', `cannot open a WebSocket to ${safeUrl(url)}`, { cause: err }),
      );
      return;
    }
    ws.binaryType = 'arraybuffer';
    let opened = false;
    let closed = false;
    const timer = setTimeout(() => {
      if (!opened) {
        ws.close();
        reject(new ProtocolError('CONNECTION_FAILED', `no answer from ${safeUrl(url)} within the timeout`));
      }
    }, opts.openTimeoutMs ?? 10_000);
    const transport: Transport = {
      send(frame, onSent) {
        if (ws.readyState !== OPEN) return;
        // Only the platform's own WebSocket is known to say (or copy) when a frame is done with.
        if (onSent && Ctor === WebSocketImpl) sendThenRelease(ws, frame, onSent);
        else ws.send(frame);
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      onFrame: () => {},
      onClose: () => {},
      close() {
        ws.close(1000);
      },
    };
    ws.onopen = () => {
      opened = true;
      clearTimeout(timer);
      resolve(transport);
    };
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (d instanceof ArrayBuffer) transport.onFrame(new Uint8Array(d));
      else if (d instanceof Uint8Array) transport.onFrame(d);
      // Text frames are not part of the protocol; ignore them.
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      clearTimeout(timer);
      if (closed) return;
      closed = true;
      const reason = `connection to ${safeUrl(url)} closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
      if (!opened) reject(new ProtocolError('CONNECTION_FAILED', reason));
      else transport.onClose(reason);
    };
  });
}

/** A URL for messages: scheme, host and path only. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}
