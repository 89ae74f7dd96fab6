/**
 * WebSocket keep-alive for Node peers (the relay and servers' relay links): ws's ping/pong.
 * Typed structurally so nothing here pulls `ws` into a browser bundle.
 */
export interface PingableSocket {
  ping(): void;
  terminate(): void;
  on(event: 'pong', fn: () => void): unknown;
  once(event: 'close', fn: () => void): unknown;
}

/** How often links are pinged; a link that misses a whole period's pong is dropped. */
export const KEEPALIVE_MS = 30_000;

/**
 * Pings `ws` every KEEPALIVE_MS and terminates it when the previous ping went unanswered:
 * a server whose network vanished (NAT timeout, cable) leaves the list within a minute
 * instead of when its announcement expires.
 */
export function keepAlive(ws: PingableSocket, periodMs = KEEPALIVE_MS): void {
  let alive = true;
  ws.on('pong', () => {
    alive = true;
  });
  const timer = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, periodMs);
  timer.unref();
  ws.once('close', () => clearInterval(timer));
}
