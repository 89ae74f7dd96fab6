/**
 * Disconnecting a peer that does not read what the relay sends it. The close frame (with
 * the reason) queues behind everything the peer has not read yet, so a peer that reads
 * again soon learns why; one that does not is cut off after `graceMs`, which frees what
 * the relay still holds for it.
 */
import { WebSocket } from '../core/protocol/ws-package.ts';

export function dropSlowPeer(ws: WebSocket, reason: string, graceMs: number): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  if (ws.readyState !== WebSocket.CLOSING) ws.close(1008, reason);
  const timer = setTimeout(() => ws.terminate(), graceMs);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}
