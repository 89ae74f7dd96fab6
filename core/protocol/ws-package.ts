/**
 * The `ws` package (Node only), loaded through `require`. Its ESM entry (wrapper.mjs) imports
 * each of its CommonJS files as ESM, and Node then lexes every one of them for its exports
 * (cjs-module-lexer: ~40-70 ms of CPU at each process start, its parser compiled by TurboFan
 * besides); `require` loads them as the CommonJS they are. Same classes either way.
 */
import { createRequire } from 'node:module';
import type * as Ws from 'ws';

const ws = createRequire(import.meta.url)('ws') as typeof Ws;

export const WebSocket = ws.WebSocket;
export type WebSocket = Ws.WebSocket;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = Ws.WebSocketServer;
