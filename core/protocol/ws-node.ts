/** `#ws` in Node: the `ws` package (Node 20 has no global WebSocket). */
import { WebSocket } from './ws-package.ts';
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

/** `ws` client options of Cairn's Node connections (clients, and servers' links to a relay). */
export const NODE_CLIENT_OPTIONS = {
  perMessageDeflate: false,
  skipUTF8Validation: true,
  generateMask: zeroMask,
} as const;

class NodeWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, NODE_CLIENT_OPTIONS);
  }

  override send(...args: unknown[]): void {
    corkForTurn(this);
    (super.send as (...a: unknown[]) => void).apply(this, args);
  }
}

const corked = new WeakSet<object>();

/**
 * Holds `ws`'s socket writes until this turn of the event loop is over, so that the frames
 * sent meanwhile (the requests of several files to one server, the replies to several
 * requests read at once) leave in one system call rather than one each: on loopback each
 * write also runs the receiver's TCP input and wakes it. `ws` corks around each frame
 * itself; Node counts nested corks, so its uncork leaves this one standing.
 */
export function corkForTurn(ws: object): void {
  // `_socket` is ws's own field (no public accessor); without it, frames go out unbatched.
  const socket = (ws as unknown as { _socket?: CorkableSocket })._socket;
  if (!socket) return;
  if (corked.has(socket)) {
    // Enough held for one system call (bulk transfers, many read replies): let it go now, so
    // a turn holds at most this plus one frame (far below the server's limit on unread replies).
    if (socket.writableLength >= CORK_MAX_BYTES) {
      corked.delete(socket);
      socket.uncork();
    }
    return;
  }
  socket.cork();
  corked.add(socket);
  setImmediate(() => {
    if (corked.delete(socket)) socket.uncork();
  });
}

interface CorkableSocket {
  readonly writableLength: number;
  cork(): void;
  uncork(): void;
}

const CORK_MAX_BYTES = 256 * 1024;

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
