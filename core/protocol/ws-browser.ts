/** `#ws` in browsers and workers: the platform's WebSocket (keeps `ws` out of the bundle). */
import type { WebSocketConstructor } from './transport.ts';

export const WebSocketImpl: WebSocketConstructor | undefined = (
  globalThis as { WebSocket?: WebSocketConstructor }
).WebSocket;
