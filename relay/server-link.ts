/**
 * The relay's end of one storage server's link, and the client channels riding on it,
 * with the memory each direction may hold:
 *  - client → server: frames wait in the link's send buffer. Above `linkHighWater` the
 *    clients sending are paused (their sockets are not read, so TCP slows them down) until
 *    the link drains below `linkLowWater`; nothing is dropped and no link is cut because a
 *    client sends faster than the server's network takes.
 *  - server → client: replies wait in the client's send buffer. A client holding more than
 *    `maxChannelBuffered` unread is dropped ("not reading replies"); when the clients of
 *    one server together hold more than `maxLinkRepliesBuffered`, the one holding most is.
 * So a link holds at most linkHighWater plus one frame per channel one way, and
 * maxLinkRepliesBuffered plus one frame the other, with at most maxChannelsPerLink channels.
 */
import { WebSocket } from '../core/protocol/ws-package.ts';
import { EnvelopeKind, encodeEnvelope } from '../core/protocol/relay-envelope.ts';
import { dropSlowPeer } from './drop-peer.ts';
import type { RelayLimits } from './limits.ts';
import { TokenBucket } from './rate-limit.ts';
import type { RegistryLink } from './registry.ts';

export class ServerLink implements RegistryLink {
  readonly channels = new Map<number, WebSocket>();
  /** This link's announcements. */
  readonly announcements: TokenBucket;
  /** Refusals for announcing too often since the last announcement let through. */
  strikes = 0;
  private nextChannel = 1;
  /** Bytes handed to the link's socket and not yet written out. */
  private pending = 0;
  private readonly paused = new Set<WebSocket>();
  private probeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly limits: RelayLimits,
    now: () => number,
  ) {
    this.announcements = new TokenBucket(limits.perLink, now);
  }

  isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Pings the server; cuts the link if no pong comes within probeTimeoutMs. */
  probe(): void {
    if (this.probeTimer || !this.isOpen()) return;
    const onPong = () => {
      clearTimeout(this.probeTimer);
      this.probeTimer = undefined;
    };
    this.ws.once('pong', onPong);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.ws.off('pong', onPong);
      this.ws.terminate();
    }, this.limits.probeTimeoutMs);
    this.probeTimer.unref();
    this.ws.ping();
  }

  send(kind: EnvelopeKind, channel: number, payload?: Uint8Array): boolean {
    if (!this.isOpen()) return false;
    const msg = encodeEnvelope(kind, channel, payload);
    this.pending += msg.length;
    this.ws.send(msg, () => {
      this.pending -= msg.length;
      if (this.paused.size > 0 && this.pending <= this.limits.linkLowWater) this.resumeClients();
    });
    return true;
  }

  /** A new client channel, or null when the server has as many as it may. */
  openChannel(client: WebSocket): number | null {
    if (this.channels.size >= this.limits.maxChannelsPerLink) return null;
    let ch = this.nextChannel;
    while (this.channels.has(ch)) ch = ch >= 0xffffffff ? 1 : ch + 1;
    this.nextChannel = ch >= 0xffffffff ? 1 : ch + 1;
    this.channels.set(ch, client);
    this.send(EnvelopeKind.Open, ch);
    return ch;
  }

  /** A client's frame on its way to the server; false when the link is gone. */
  fromClient(client: WebSocket, channel: number, frame: Uint8Array): boolean {
    if (!this.send(EnvelopeKind.Data, channel, frame)) return false;
    if (this.pending > this.limits.linkHighWater && !this.paused.has(client)) {
      this.paused.add(client);
      client.pause();
    }
    return true;
  }

  /** A server's frame for channel `channel`'s client. */
  toClient(channel: number, frame: Uint8Array): void {
    const client = this.channels.get(channel);
    if (!client || client.readyState !== WebSocket.OPEN) return;
    // A client with nothing queued is keeping up: only a backlog can grow past a bound.
    if (client.bufferedAmount > 0) {
      if (client.bufferedAmount + frame.length > this.limits.maxChannelBuffered) {
        this.dropChannel(channel, 'not reading replies');
        return;
      }
      if (this.repliesBuffered() + frame.length > this.limits.maxLinkRepliesBuffered) {
        const worst = this.largestBacklog();
        this.dropChannel(worst, 'the relay holds too many unread replies for this server; yours were most');
        if (worst === channel) return;
      }
    }
    client.send(frame);
  }

  /** The client of `channel` left; tells the server unless it was the server that closed it. */
  clientClosed(channel: number, client: WebSocket): void {
    this.paused.delete(client);
    if (this.channels.get(channel) !== client) return;
    this.channels.delete(channel);
    this.send(EnvelopeKind.Close, channel);
  }

  /** The server closed `channel`. */
  serverClosed(channel: number): void {
    const client = this.channels.get(channel);
    if (!client) return;
    this.channels.delete(channel);
    this.paused.delete(client);
    client.close(1000, 'closed by the server');
  }

  /** The link is gone: so are its channels. */
  closeAll(): void {
    clearTimeout(this.probeTimer);
    for (const client of this.channels.values()) client.close(1011, 'the server went away');
    this.channels.clear();
    this.paused.clear();
  }

  private dropChannel(channel: number, reason: string): void {
    const client = this.channels.get(channel);
    if (!client) return;
    this.channels.delete(channel);
    this.paused.delete(client);
    this.send(EnvelopeKind.Close, channel);
    dropSlowPeer(client, reason, this.limits.dropGraceMs);
  }

  private repliesBuffered(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.bufferedAmount;
    return n;
  }

  private largestBacklog(): number {
    let worst = 0;
    let most = -1;
    for (const [ch, c] of this.channels) {
      if (c.bufferedAmount > most) {
        worst = ch;
        most = c.bufferedAmount;
      }
    }
    return worst;
  }

  private resumeClients(): void {
    for (const c of this.paused) if (c.readyState === WebSocket.OPEN) c.resume();
    this.paused.clear();
  }
}
