/** `#ws` in Node: the `ws` package (Node 20 has no global WebSocket). */
import WebSocket from 'ws';
import type { WebSocketConstructor } from './transport.ts';

export const WebSocketImpl: WebSocketConstructor | undefined = WebSocket as unknown as WebSocketConstructor;
