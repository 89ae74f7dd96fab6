/**
 * A storage server's one outbound WebSocket to the relay: it announces the server there
 * (signed, renewed periodically) and carries the channels of clients that reach the
 * server through the relay. Reconnects with backoff when the relay goes away.
 */
import { WebSocket } from '../core/protocol/ws-package.ts';
import { relayEndpoint, type SignedAnnouncement } from '../core/protocol/announcement.ts';
import { decodeCbor, encodeCbor, Fields } from '../core/protocol/cbor.ts';
import type { ServerKeyPair } from '../core/protocol/identity.ts';
import { keepAlive } from '../core/protocol/keepalive.ts';
import * as L from '../core/protocol/limits.ts';
import {
  decodeEnvelope,
  EnvelopeKind,
  encodeEnvelope,
  encodeEnvelopeInPlace,
} from '../core/protocol/relay-envelope.ts';
import { corkForTurn, NODE_CLIENT_OPTIONS } from '../core/protocol/ws-node.ts';
import { ThrottledLog } from '../relay/log-throttle.ts';
import { type DescribeServer, SelfAnnouncer } from './announcer.ts';
import type { Reply, RequestHandler, Session } from './handler.ts';

export interface RelayLinkOptions {
  relayUrl: string;
  key: ServerKeyPair;
  handler: RequestHandler;
  /** The announcement's changing parts, asked for at every (re)announcement. */
  describe: DescribeServer;
  /** Signs this server's announcements (shared with gossip); default: one of its own from `describe`. */
  announcer?: SelfAnnouncer;
  announceIntervalMs?: number;
  now?: () => number;
  log?: (line: string) => void;
}

/** Replies queued beyond this on the link mean the relay is not reading: drop the link. */
const MAX_LINK_BUFFER = 256 * 1024 * 1024;

export class RelayLink {
  private ws: WebSocket | null = null;
  private stopped = false;
  private backoffMs = 500;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private announceTimer: ReturnType<typeof setInterval> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly channels = new Map<number, Session>();
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly announcer: SelfAnnouncer;
  private acceptedWaiters: Array<() => void> = [];
  /** True once the relay has accepted an announcement on the current link. */
  announced = false;

  /**
   * What the relay sends that the server only logs: a line per 10 s with a count, so a relay
   * (maybe someone else's) cannot fill the server's disk with log lines (bench/fuzz.ts).
   */
  private readonly fromRelay: ThrottledLog;

  constructor(private readonly opts: RelayLinkOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.fromRelay = new ThrottledLog(this.log);
    this.announcer = opts.announcer ?? new SelfAnnouncer(opts.key, opts.describe, this.now);
  }

  start(): void {
    this.connect();
  }

  /** Resolves when the relay has accepted this server's announcement. */
  whenAnnounced(): Promise<void> {
    if (this.announced) return Promise.resolve();
    return new Promise((r) => this.acceptedWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.announceTimer);
    clearTimeout(this.retryTimer);
    this.ws?.close(1001, 'server stopping');
    this.closeChannels();
  }

  private connect(): void {
    if (this.stopped) return;
    // Unmasked and batched per turn as clients' frames are (ws-node.ts): the replies to a
    // relayed client's reads are this link's bulk, and a random mask cost a masked copy of each.
    const ws = new WebSocket(relayEndpoint(this.opts.relayUrl, '/v1/link'), {
      ...NODE_CLIENT_OPTIONS,
      maxPayload: L.WS_MAX_PAYLOAD,
    });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      this.backoffMs = 500;
      keepAlive(ws);
      void this.announce();
      this.announceTimer = setInterval(() => void this.announce(), this.opts.announceIntervalMs ?? 60_000);
      this.announceTimer.unref?.();
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      this.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      clearInterval(this.announceTimer);
      clearTimeout(this.retryTimer);
      this.closeChannels();
      this.announced = false;
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      // Not unref'd: for a relay-only server (no listening socket) this timer is all that
      // keeps the process alive between a lost link and the next try; unref'd, the process
      // ended (exit code 13, nothing logged) whenever its relay went away. stop() clears it.
      this.timer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
  }

  /** Every relayed client connection ends with the link. */
  private closeChannels(): void {
    for (const session of this.channels.values()) session.close();
    this.channels.clear();
  }

  /** Sends a fresh signed announcement (call after a big change in free space too). */
  async announce(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    let signed: SignedAnnouncement;
    try {
      signed = await this.announcer.sign();
    } catch (err) {
      // Called from timers: a failure (its folder gone at shutdown, a disk error) is logged,
      // and the next announcement tries again.
      this.log(`cannot describe this server for the relay: ${(err as Error).message}`);
      return;
    }
    this.send(
      EnvelopeKind.Control,
      0,
      encodeCbor({ t: 'announce', body: signed.body, sig: signed.signature }),
    );
  }

  private send(kind: EnvelopeKind, channel: number, payload?: Uint8Array): void {
    this.write(encodeEnvelope(kind, channel, payload));
  }

  /** A reply to a client: a read's is wrapped where it lies, others are copied into an envelope. */
  private sendReply(channel: number, reply: Reply): void {
    if (reply.headroom < L.RELAY_ENVELOPE_BYTES) {
      this.send(EnvelopeKind.Data, channel, reply.frame);
      reply.written();
    } else {
      this.write(encodeEnvelopeInPlace(EnvelopeKind.Data, channel, reply.frame), reply.written);
    }
  }

  /**
   * Sends `msg` to the relay (`written` once the socket has it; a message dropped because the
   * link is down is left to the collector). A link the relay is not reading is dropped, to be
   * made again.
   */
  private write(msg: Uint8Array, written?: () => void): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_LINK_BUFFER) {
      this.log('relay link is not draining; reconnecting');
      ws.terminate();
      return;
    }
    corkForTurn(ws);
    ws.send(msg, written);
  }

  private onMessage(msg: Uint8Array): void {
    let env: ReturnType<typeof decodeEnvelope>;
    try {
      env = decodeEnvelope(msg);
    } catch {
      this.fromRelay.note('relay sent a malformed envelope; ignoring it');
      return;
    }
    switch (env.kind) {
      case EnvelopeKind.Open: {
        const ch = env.channel;
        this.channels.get(ch)?.close(); // a reused channel number: the old client is gone
        this.channels.set(
          ch,
          this.opts.handler.session((reply) => this.sendReply(ch, reply), {
            headroom: L.RELAY_ENVELOPE_BYTES,
          }),
        );
        return;
      }
      case EnvelopeKind.Data: {
        this.channels.get(env.channel)?.frame(env.payload);
        return;
      }
      case EnvelopeKind.Close:
        this.channels.get(env.channel)?.close();
        this.channels.delete(env.channel);
        return;
      case EnvelopeKind.Control:
        this.onControl(env.payload);
        return;
    }
  }

  private retryIn(ms: number): void {
    if (this.retryTimer) return;
    const interval = this.opts.announceIntervalMs ?? 60_000;
    // Jitter, so servers refused together (a relay restarting under a full grid) come back apart.
    const wait = Math.min(interval, Math.max(200, ms)) * (1 + Math.random() / 4);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.announce();
    }, wait);
    this.retryTimer.unref?.();
  }

  private onControl(payload: Uint8Array): void {
    try {
      const f = new Fields(decodeCbor(payload, L.MAX_ANNOUNCEMENT_BYTES), 'relay control');
      const t = f.string('t', 32);
      if (t === 'accepted') {
        if (!this.announced) this.log('announced to the relay');
        this.announced = true;
        for (const w of this.acceptedWaiters.splice(0)) w();
      } else if (t === 'rejected') {
        // The relay's words, on one line (no control characters: they could forge log lines).
        this.fromRelay.note(
          `the relay rejected the announcement: ${f.string('m', 500).replace(/\p{Cc}/gu, ' ')}`,
        );
        // A refusal that may pass later (busy, rate, an old link of ours still held) names
        // when to try again; without that, the next regular announcement is the retry.
        if (f.has('retry')) this.retryIn(f.uint('retry', Number.MAX_SAFE_INTEGER));
      }
    } catch {
      this.fromRelay.note('relay sent a malformed control message; ignoring it');
    }
  }
}
