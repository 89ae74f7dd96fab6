/** `#ws` in browsers and workers: the platform's WebSocket (keeps `ws` out of the bundle). */
import type { WebSocketConstructor, WebSocketLike } from './transport.ts';

export const WebSocketImpl: WebSocketConstructor | undefined = (
  globalThis as { WebSocket?: WebSocketConstructor }
).WebSocket;

/**
 * Sends `frame`; `onSent` at once: a browser's send() copies the bytes it is given (WebSocket
 * standard, send(): the data is a copy of the bytes held by the buffer source).
 */
export function sendThenRelease(ws: WebSocketLike, frame: Uint8Array, onSent: () => void): void {
  ws.send(frame);
  onSent();
}
