/**
 * Peers of a relay driven by hand, for tests that play a misbehaving party: server links
 * that send what they like (floods, replays, unread channels), keys made fast enough to
 * flood with (node:crypto ed25519, ~50 µs a key and a signature, where noble takes ~1 ms),
 * and subscribers that count what they get or stop reading.
 */
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import WebSocket from 'ws';
import {
  type Announcement,
  relayEndpoint,
  relayRoute,
  type SignedAnnouncement,
} from '../../core/protocol/announcement.ts';
import { decodeCbor, encodeCbor } from '../../core/protocol/cbor.ts';
import { serverIdFromPublicKey } from '../../core/protocol/identity.ts';
import * as L from '../../core/protocol/limits.ts';
import { decodeEnvelope, EnvelopeKind, encodeEnvelope } from '../../core/protocol/relay-envelope.ts';
import type { ServerId } from '../../core/types.ts';

/** Polls `cond` every 10 ms; throws after `ms`. Decides nothing by itself: it only waits. */
export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Fields = Partial<Omit<Announcement, 'serverId'>>;

/** `promise`, or an Error once `ms` have passed without it settling. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T | Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Error>((resolve) => {
    timer = setTimeout(() => resolve(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface FastKey {
  serverId: ServerId;
  /** Signs an announcement of this server: `fields`, else the key's defaults, else plausible values. */
  announce(fields?: Fields): SignedAnnouncement;
}

let seqCounter = Date.now();

/**
 * A server key made and used with node:crypto (same signatures as core/protocol/identity.ts).
 * `defaults` (nickname, url…) go into every announcement that does not say otherwise.
 */
export function fastKey(defaults: Fields = {}): FastKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const serverId = serverIdFromPublicKey(new Uint8Array(raw));
  return {
    serverId,
    announce(given = {}) {
      const fields = { ...defaults, ...given };
      const body = encodeCbor({
        v: 1,
        serverId,
        nickname: fields.nickname ?? 'flood',
        url: fields.url === undefined ? null : fields.url,
        availableSpace: fields.availableSpace ?? 1,
        seq: fields.seq ?? ++seqCounter,
        expires: fields.expires ?? Date.now() + L.ANNOUNCEMENT_LIFETIME_MS,
      });
      return { body, signature: signTagged(privateKey, 'cairn-announcement-v1', body) };
    },
  };
}

function signTagged(key: KeyObject, tag: string, body: Uint8Array): Uint8Array {
  const msg = Buffer.concat([Buffer.from(`${tag.length}:${tag},`), body]);
  return new Uint8Array(sign(null, msg, key));
}

export type Reply = { t: string; c?: string; m?: string; seq?: number; retry?: number };

/** A server link opened by hand. */
export class RawLink {
  readonly replies: Reply[] = [];
  /** Channels the relay opened, in order. */
  readonly opened: number[] = [];
  /** Channels the relay closed. */
  readonly closedChannels = new Set<number>();
  /** Data frames per channel, in order. */
  readonly data = new Map<number, Uint8Array[]>();
  closeEvent: { code: number; reason: string } | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      const env = decodeEnvelope(new Uint8Array(d));
      if (env.kind === EnvelopeKind.Control) this.replies.push(decodeCbor(env.payload, 10_000) as Reply);
      else if (env.kind === EnvelopeKind.Open) this.opened.push(env.channel);
      else if (env.kind === EnvelopeKind.Close) this.closedChannels.add(env.channel);
      else if (env.kind === EnvelopeKind.Data) {
        const list = this.data.get(env.channel) ?? [];
        list.push(env.payload.slice());
        this.data.set(env.channel, list);
      }
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.closeEvent = { code, reason: reason.toString() };
        resolve(this.closeEvent);
      }),
    );
  }

  static async open(relayUrl: string): Promise<RawLink> {
    const ws = new WebSocket(relayEndpoint(relayUrl, '/v1/link'), { maxPayload: L.WS_MAX_PAYLOAD });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new RawLink(ws);
  }

  send(signed: SignedAnnouncement): void {
    this.ws.send(
      encodeEnvelope(
        EnvelopeKind.Control,
        0,
        encodeCbor({ t: 'announce', body: signed.body, sig: signed.signature }),
      ),
    );
  }

  /** Sends one announcement and waits for the relay's answer to it. */
  async announce(signed: SignedAnnouncement, ms = 10_000): Promise<Reply> {
    const n = this.replies.length;
    this.send(signed);
    await until(
      () => this.replies.length > n || this.closeEvent !== null,
      ms,
      'an answer to the announcement',
    );
    if (this.replies.length === n) throw new Error(`link closed: ${JSON.stringify(this.closeEvent)}`);
    return this.replies[n];
  }

  sendData(channel: number, frame: Uint8Array): void {
    this.ws.send(encodeEnvelope(EnvelopeKind.Data, channel, frame));
  }

  close(): void {
    this.ws.close();
  }
}

/** A raw link that announced a fresh server; throws unless the relay accepted it. */
export async function linkedServer(
  relayUrl: string,
  fields?: Fields,
): Promise<{ link: RawLink; key: FastKey }> {
  const link = await RawLink.open(relayUrl);
  const key = fastKey(fields);
  const reply = await link.announce(key.announce());
  if (reply.t !== 'accepted') throw new Error(`relay refused a test server: ${reply.m}`);
  return { link, key };
}

/** A WebSocket client of `/v1/connect/<id>` (a client reaching a server through the relay). */
export async function relayedClient(relayUrl: string, serverId: ServerId): Promise<WebSocket> {
  const ws = new WebSocket(relayRoute(relayUrl, serverId), { maxPayload: L.WS_MAX_PAYLOAD });
  ws.on('error', () => {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', () => reject(new Error('relay refused the connection')));
  });
  return ws;
}

/** A `/v1/subscribe` client that records each list it gets (read without checking signatures). */
export class ListWatcher {
  readonly lists: Announcement[][] = [];
  bytesReceived = 0;
  closeEvent: { code: number; reason: string } | null = null;
  readonly ws: WebSocket;
  readonly opened: Promise<void>;

  constructor(relayUrl: string) {
    this.ws = new WebSocket(relayEndpoint(relayUrl, '/v1/subscribe'));
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('message', (d: Buffer) => {
      this.bytesReceived += d.length;
      const msg = decodeCbor(new Uint8Array(d), 64 * 1024 * 1024) as {
        servers: { body: Uint8Array; sig: Uint8Array }[];
      };
      // Plain CBOR, no checks: what the relay sent, as it sent it.
      this.lists.push(msg.servers.map((s) => decodeCbor(s.body, L.MAX_ANNOUNCEMENT_BYTES) as Announcement));
    });
    this.ws.once('close', (code, reason) => {
      this.closeEvent = { code, reason: reason.toString() };
    });
  }

  get latest(): Announcement[] {
    return this.lists[this.lists.length - 1] ?? [];
  }

  close(): void {
    this.ws.close();
  }
}
