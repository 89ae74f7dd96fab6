/** `#ws` in Node: the `ws` package (Node 20 has no global WebSocket). */
import WebSocket from 'ws';
import type { WebSocketConstructor, WebSocketLike } from './transport.ts';

/**
 * An all-zero masking key: `ws` then sends the payload as it is (no masked copy of every
 * frame) and the receiving `ws` skips unmasking. Masking protects intermediaries from
 * attacker-chosen bytes sent by scripts in a browser (RFC 6455 §10.3); this Node client runs
 * no such scripts and its bulk payloads are ciphertext, so it gives up only a copy per frame.
 * Browsers keep masking (ws-browser.ts).
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

class NodeWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { perMessageDeflate: false, skipUTF8Validation: true, generateMask: zeroMask });
  }
}

export const WebSocketImpl: WebSocketConstructor | undefined =
  NodeWebSocket as unknown as WebSocketConstructor;

/**
 * Sends `frame`; `onSent` once `ws` has written it to the socket (until then Node's stream
 * may still hold the very buffer, so it must not be reused before).
 */
export function sendThenRelease(ws: WebSocketLike, frame: Uint8Array, onSent: () => void): void {
  (ws as unknown as WebSocket).send(frame, (err) => {
    if (!err) onSent();
  });
}
