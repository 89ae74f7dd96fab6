/**
 * `npm run fuzz -- --frames 100000 [--seed N] [--hang-ms 5000]`: a real `cairn server` process
 * (the bundled entry, announced to the relay) and a real `cairn relay` process on 127.0.0.1,
 * and hostile traffic at both, in lanes that run side by side:
 *   server ×2   /v1/storage directly: valid requests of every op, the same mutated (values and
 *               bytes), hostile CBOR, random bytes, text, frames around and beyond the limits
 *   connect     the same through the relay, /v1/connect/<the server's id>
 *   link        /v1/link as a (made-up) server: announcements valid, mutated and oddly signed,
 *               control junk, envelopes of every kind on random channels, truncated ones, text
 *   pair        the relay's forwarding with a made-up server announced at the far end: bytes
 *               must pass untouched both ways, closes must reach the other end
 *   hostile     a second, relay-only server linked to the fuzzer as its relay: channels opened
 *               and closed at will, storage frames on them, junk envelopes and control messages
 *   subscribe   /v1/subscribe: the list must come and decode; junk sent back must change nothing
 *   http        GET /v1/servers (must decode), other methods and paths on both processes
 *               (static files included: nothing outside the web folder), upgrades to
 *               /v1/connect/<junk>, raw TCP junk
 * Each storage frame waits for its reply (one at a time per lane, so every reply is judged
 * against its frame): it must be a typed error or a result of the op's shape, with the
 * frame's id. A control message on the link must get a typed acceptance or refusal.
 * Reported: crashes (a process exits), non-typed replies, hangs (no reply within --hang-ms;
 * the lane reconnects), closes by design (a frame beyond the WebSocket cap: 1009; a malformed
 * envelope: 1002; a link announcing too often: 1008) apart from unexpected ones, the servers'
 * "internal error" log lines, RSS of both processes, and whether valid requests still work
 * afterwards. Each lane's frames follow from --seed (the lanes' interleaving does not).
 * Exits 1 on any crash, non-typed reply, hang, unexpected close or failed final check.
 */
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import WebSocket, { WebSocketServer } from 'ws';
import { relayEndpoint, relayRoute, signAnnouncement } from '../core/protocol/announcement.ts';
import { decodeCbor } from '../core/protocol/cbor.ts';
import { connectStorageServer } from '../core/protocol/client.ts';
import { decodeEnvelope, EnvelopeKind, encodeEnvelope } from '../core/protocol/relay-envelope.ts';
import { decodeServerList, fetchGridServers } from '../core/protocol/grid.ts';
import * as L from '../core/protocol/limits.ts';
import { asShareNum, asStorageIndex, type ServerId } from '../core/types.ts';
import {
  cleanup,
  type SpawnedRelay,
  type SpawnedServer,
  spawnRelay,
  spawnServer,
} from '../test/harness/grid.ts';
import {
  announcement,
  encodeAny,
  expectation,
  freshKey,
  judgeControl,
  judgeReply,
  linkMessage,
  Rand,
  StorageContext,
  storageFrame,
  validRequest,
  weird,
} from './fuzz-frames.ts';
import { residentBytes } from './proc.ts';

const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}
const FRAMES = flag('frames', 100_000);
const SEED = flag('seed', Date.now() % 1_000_000);
const HANG_MS = flag('hang-ms', 5_000);

// ---- what each lane saw -------------------------------------------------------------------

class Stats {
  frames = 0;
  readonly kinds: Record<string, number> = {};
  readonly typed: Record<string, number> = {};
  results = 0;
  /** Messages for which no reply is due (sent, and the peer stayed up). */
  unanswered = 0;
  bad = 0;
  hangs = 0;
  unexpectedCloses = 0;
  readonly byDesign: Record<string, number> = {};
  readonly problems: string[] = [];
  /** The last frames sent, for reproducing a crash. */
  readonly recent: string[] = [];
  constructor(readonly name: string) {}

  sent(frame: Uint8Array | string, kind: string): void {
    this.frames++;
    this.kinds[kind] = (this.kinds[kind] ?? 0) + 1;
    this.recent.push(`${kind}: ${describe(frame)}`);
    if (this.recent.length > 8) this.recent.shift();
  }
  problem(count: 'bad' | 'hangs' | 'unexpectedCloses', what: string): void {
    this[count]++;
    if (this.problems.length < 12) this.problems.push(what);
  }
  designed(what: string): void {
    this.byDesign[what] = (this.byDesign[what] ?? 0) + 1;
  }
  /** A few distinct messages per code, to see what the answers said. */
  readonly messages: Record<string, Set<string>> = {};
  typedAs(code: string, message?: string): void {
    this.typed[code] = (this.typed[code] ?? 0) + 1;
    if (message === undefined) return;
    this.messages[code] ??= new Set();
    // Numbers vary; the kind of message is what is worth seeing.
    if (this.messages[code].size < 4) this.messages[code].add(message.replace(/\d+/g, 'N').slice(0, 120));
  }
}

function describe(frame: Uint8Array | string): string {
  if (typeof frame === 'string') return `text ${JSON.stringify(frame.slice(0, 60))}`;
  const hex = Buffer.from(frame.subarray(0, 48)).toString('hex');
  return `${frame.length} B ${hex}${frame.length > 48 ? '…' : ''}`;
}

/** Set when a process dies: every lane stops. */
let crashed: string | null = null;

// ---- a WebSocket with an inbox --------------------------------------------------------------

type Event =
  | { type: 'msg'; data: Uint8Array | string }
  | { type: 'close'; code: number; reason: string }
  | { type: 'timeout' };

class Sock {
  private readonly inbox: Event[] = [];
  private waiter: ((e: Event) => void) | null = null;
  closed = false;

  /** A socket accepted by a WebSocketServer of the fuzzer's own (the hostile relay). */
  static wrap(ws: WebSocket): Sock {
    return new Sock(ws);
  }

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) =>
      this.push({ type: 'msg', data: isBinary ? new Uint8Array(data) : data.toString() }),
    );
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.push({ type: 'close', code, reason: reason.toString() });
    });
    ws.on('error', () => {});
  }

  /** Opens `url`; resolves with the HTTP status instead when the upgrade is refused. */
  static open(url: string): Promise<Sock | { status: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 2 * L.WS_MAX_PAYLOAD, perMessageDeflate: false });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no connection to ${url} within ${HANG_MS} ms`));
      }, HANG_MS);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(new Sock(ws));
      });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        resolve({ status: res.statusCode ?? 0 });
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private push(e: Event): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(e);
    } else this.inbox.push(e);
  }

  next(timeoutMs = HANG_MS): Promise<Event> {
    const e = this.inbox.shift();
    if (e) return Promise.resolve(e);
    if (this.closed) return Promise.resolve({ type: 'close', code: 0, reason: 'already closed' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve({ type: 'timeout' });
      }, timeoutMs);
      this.waiter = (ev) => {
        clearTimeout(timer);
        resolve(ev);
      };
    });
  }

  /** A ping answered within the hang limit: the peer is alive and has read what came before. */
  async alive(): Promise<boolean> {
    if (this.closed) return false;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), HANG_MS);
      this.ws.once('pong', () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.ws.ping();
    });
  }

  send(frame: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  close(): void {
    this.ws.terminate();
  }
}

async function mustOpen(url: string): Promise<Sock> {
  const s = await Sock.open(url);
  if (!(s instanceof Sock)) throw new Error(`${url} refused the upgrade (${s.status})`);
  return s;
}

// ---- lanes ----------------------------------------------------------------------------------

/** Storage frames, one at a time, each reply judged against its frame. */
async function storageLane(
  stats: Stats,
  url: string,
  quota: number,
  r: Rand,
  serverId: ServerId,
  viaRelay: boolean,
) {
  const ctx = new StorageContext(r);
  let sock = await mustOpen(url);
  for (let i = 0; i < quota && !crashed; i++) {
    // A fresh connection now and then (its uploads are dropped, as a client's would be).
    if (i > 0 && i % 2000 === 0) {
      sock.close();
      sock = await mustOpen(url);
    }
    const { frame, kind } = storageFrame(r, ctx);
    stats.sent(frame, kind);
    const want = expectation(frame);
    sock.send(frame);
    const ev = await sock.next();
    if (ev.type === 'msg') {
      if (typeof ev.data === 'string') {
        stats.problem('bad', `text reply to ${kind}: ${ev.data.slice(0, 80)}`);
        continue;
      }
      const v = judgeReply(ev.data, want, serverId);
      if (v.kind === 'error') stats.typedAs(v.code, v.message);
      else if (v.kind === 'result') stats.results++;
      else stats.problem('bad', `${v.why} (frame ${describe(frame)})`);
      continue;
    }
    if (ev.type === 'close') {
      if (kind === 'beyond the WebSocket cap' && ev.code === 1009)
        stats.designed('1009 frame beyond the WebSocket cap');
      else if (!crashed)
        stats.problem('unexpectedCloses', `closed ${ev.code} ${ev.reason} after ${kind} ${describe(frame)}`);
    } else {
      stats.problem(
        'hangs',
        `no reply in ${HANG_MS} ms to ${kind} ${describe(frame)}${viaRelay ? ' (through the relay)' : ''}`,
      );
    }
    sock.close();
    if (crashed) break;
    sock = await mustOpen(url);
  }
  sock.close();
}

/** The relay's link, as a server that has its own ideas. */
async function linkLane(stats: Stats, relayUrl: string, quota: number, r: Rand) {
  const url = relayEndpoint(relayUrl, '/v1/link');
  let key = freshKey();
  let sock = await mustOpen(url);
  let life = 0;
  let quiet = 0;
  const reconnect = async () => {
    sock.close();
    key = freshKey();
    sock = await mustOpen(url);
    life = 0;
  };
  for (let i = 0; i < quota && !crashed; i++) {
    // Links are short-lived, so announcements meet more than the link's own rate limit.
    if (life >= 5 + r.int(30)) await reconnect();
    life++;
    const m = linkMessage(r, key);
    stats.sent(m.msg, m.kind);
    sock.send(m.msg);
    if (m.wantsReply) {
      const ev = await nextControl(sock);
      if (ev.type === 'msg') {
        const v = judgeControl(ev.payload);
        if (v.kind === 'bad') stats.problem('bad', `${v.why} (after ${m.kind})`);
        else if (v.kind === 'accepted') stats.results++;
        else stats.typedAs(v.code ?? 'rejected');
        continue;
      }
      if (ev.type === 'close') linkClosed(stats, ev, m.kind, false);
      else stats.problem('hangs', `no control reply in ${HANG_MS} ms to ${m.kind} ${describe(m.msg)}`);
      await reconnect();
    } else if (m.closes) {
      const ev = await nextControl(sock);
      if (ev.type === 'close') linkClosed(stats, ev, m.kind, true);
      else stats.problem('bad', `the link stayed open after ${m.kind} ${describe(m.msg)}`);
      await reconnect();
    } else {
      stats.unanswered++;
      if (++quiet % 20 === 0 && !(await sock.alive())) {
        const ev = await sock.next(100);
        if (ev.type === 'close') linkClosed(stats, ev, m.kind, false);
        else stats.problem('hangs', `no pong in ${HANG_MS} ms after ${m.kind}`);
        await reconnect();
      }
    }
  }
  sock.close();
}

/**
 * A link the relay closed: by design after a malformed envelope (1002, when `malformed`) or
 * after announcing too often (1008, whatever was sent last: the strike may be an earlier one).
 */
function linkClosed(
  stats: Stats,
  ev: { code: number; reason: string },
  after: string,
  malformed: boolean,
): void {
  if (malformed && ev.code === 1002) stats.designed('1002 malformed envelope');
  else if (ev.code === 1008 && /too often/.test(ev.reason)) stats.designed('1008 announcing too often');
  else stats.problem('unexpectedCloses', `link closed ${ev.code} ${ev.reason} after ${after}`);
}

/** The next control message on a link (other envelopes, e.g. channel opens, are skipped). */
async function nextControl(
  sock: Sock,
): Promise<{ type: 'msg'; payload: Uint8Array } | Exclude<Event, { type: 'msg' }>> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const ev = await sock.next(Math.max(1, deadline - Date.now()));
    if (ev.type !== 'msg') return ev;
    if (typeof ev.data === 'string') continue;
    try {
      const env = decodeEnvelope(ev.data);
      if (env.kind === EnvelopeKind.Control) return { type: 'msg', payload: env.payload };
    } catch {
      return { type: 'msg', payload: new Uint8Array([0xff]) }; // judged as not CBOR
    }
  }
}

/** Subscribers: the list must arrive and decode; what they send must change nothing. */
async function subscribeLane(stats: Stats, relayUrl: string, quota: number, r: Rand, serverId: ServerId) {
  const url = relayEndpoint(relayUrl, '/v1/subscribe');
  let sock: Sock | null = null;
  const fresh = async () => {
    sock?.close();
    sock = await mustOpen(url);
    const ev = await sock.next();
    if (ev.type !== 'msg' || typeof ev.data === 'string') {
      stats.problem(ev.type === 'timeout' ? 'hangs' : 'bad', `subscriber got no list (${ev.type})`);
      return;
    }
    try {
      const list = decodeServerList(ev.data, Date.now());
      if (!list.some((s) => s.serverId === serverId))
        stats.problem('bad', 'the pushed list lacks the real server');
      else stats.results++;
    } catch (err) {
      stats.problem('bad', `the pushed list does not decode: ${(err as Error).message}`);
    }
  };
  await fresh();
  for (let i = 0; i < quota && !crashed; i++) {
    if (i > 0 && i % 300 === 0) await fresh();
    const frame = r.chance(0.2)
      ? 'text from a subscriber'
      : r.bytes(r.chance(0.95) ? r.int(200) : r.int(200_000));
    stats.sent(frame, typeof frame === 'string' ? 'text' : 'binary junk');
    const s = sock as Sock | null;
    s?.send(frame);
    stats.unanswered++;
    if (i % 25 === 24 && s && !(await s.alive())) {
      // Pushes after list changes may sit in the inbox; only a close or silence counts.
      stats.problem(s.closed ? 'unexpectedCloses' : 'hangs', 'a subscriber stopped answering pings');
      await fresh();
    }
  }
  (sock as Sock | null)?.close();
}

// ---- the relay's forwarding, with a made-up server at the far end -------------------------

type Env = { kind: number; channel: number; payload: Uint8Array };

/** The next envelope on a link that `want` accepts (others, e.g. unasked refusals, are skipped). */
async function nextEnvelope(
  sock: Sock,
  want: (e: Env) => boolean,
): Promise<Env | Exclude<Event, { type: 'msg' }>> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const ev = await sock.next(Math.max(1, deadline - Date.now()));
    if (ev.type !== 'msg') return ev;
    if (typeof ev.data === 'string') continue;
    let env: Env;
    try {
      env = decodeEnvelope(ev.data);
    } catch {
      continue;
    }
    if (want(env)) return env;
  }
}

const isEnv = (e: Env | Exclude<Event, { type: 'msg' }>): e is Env => 'kind' in e;
const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/**
 * A made-up server announced on a link of its own, and clients reaching it through the relay:
 * what either end sends must reach the other byte for byte, closes must reach the other end,
 * and nothing the far end sends (other channels, server-side opens) may leak to a client.
 */
async function pairLane(stats: Stats, relayUrl: string, quota: number, r: Rand) {
  let sent = 0;
  while (sent < quota && !crashed) {
    const key = freshKey();
    const link = await mustOpen(relayEndpoint(relayUrl, '/v1/link'));
    // Announce until accepted (newcomers share one pace with the link lane's made-up servers).
    let accepted = false;
    for (let attempt = 0; attempt < 6 && !accepted && !crashed; attempt++) {
      const signed = signAnnouncement(key, { ...announcement(key, r), url: null });
      link.send(
        encodeEnvelope(
          EnvelopeKind.Control,
          0,
          encodeAny({ t: 'announce', body: signed.body, sig: signed.signature }),
        ),
      );
      const ev = await nextControl(link);
      if (ev.type !== 'msg') break;
      const v = judgeControl(ev.payload);
      if (v.kind === 'accepted') accepted = true;
      else if (v.kind === 'rejected') {
        const retry = (decodeCbor(ev.payload, 10_000) as { retry?: number }).retry ?? 1000;
        await new Promise((res) => setTimeout(res, Math.min(3000, retry)));
      } else if (v.kind === 'bad') stats.problem('bad', `${v.why} (pair announcement)`);
    }
    if (!accepted) {
      link.close();
      continue;
    }
    const route = relayRoute(relayUrl, key.serverId);
    let client: Sock | null = null;
    let ch = 0;
    const openClient = async (): Promise<boolean> => {
      client = await mustOpen(route);
      const open = await nextEnvelope(link, (e) => e.kind === EnvelopeKind.Open);
      if (!isEnv(open)) {
        stats.problem(
          open.type === 'timeout' ? 'hangs' : 'unexpectedCloses',
          `no Open on the link for a new client (${open.type})`,
        );
        return false;
      }
      ch = open.channel;
      return true;
    };
    if (!(await openClient())) {
      link.close();
      continue;
    }
    const session = 10 + r.int(50);
    for (let k = 0; k < session && sent < quota && !crashed; k++) {
      sent++; // here, not in the loop's update: a session may end with a break
      const c = client as unknown as Sock;
      const x = r.int(100);
      if (x < 32) {
        const payload = r.bytes(r.chance(0.95) ? r.int(4096) : r.int(L.MAX_FRAME_BYTES));
        stats.sent(payload, 'server → client');
        link.send(encodeEnvelope(EnvelopeKind.Data, ch, payload));
        const ev = await c.next();
        if (ev.type === 'msg' && typeof ev.data !== 'string' && equalBytes(ev.data, payload)) stats.results++;
        else if (ev.type === 'msg')
          stats.problem('bad', `a client got other bytes than its server sent (${describe(ev.data)})`);
        else
          stats.problem(ev.type === 'timeout' ? 'hangs' : 'unexpectedCloses', `server → client: ${ev.type}`);
      } else if (x < 64) {
        const frame = r.bytes(r.chance(0.95) ? r.int(4096) : r.int(L.MAX_FRAME_BYTES + 1000));
        stats.sent(frame, 'client → server');
        c.send(frame);
        if (frame.length > L.MAX_FRAME_BYTES) {
          const ev = await c.next();
          const v =
            ev.type === 'msg' && typeof ev.data !== 'string'
              ? judgeReply(ev.data, { id: 0, op: null, args: null }, key.serverId)
              : null;
          if (v?.kind === 'error' && v.code === 'TOO_LARGE') stats.typedAs('TOO_LARGE');
          else stats.problem('bad', `an oversized client frame got ${v ? JSON.stringify(v) : ev.type}`);
          continue;
        }
        const env = await nextEnvelope(link, (e) => e.kind === EnvelopeKind.Data);
        if (!isEnv(env))
          stats.problem(
            env.type === 'timeout' ? 'hangs' : 'unexpectedCloses',
            `client → server: ${env.type}`,
          );
        else if (env.channel === ch && equalBytes(env.payload, frame)) stats.results++;
        else
          stats.problem(
            'bad',
            `the server got other bytes or another channel than its client sent (${env.channel} vs ${ch})`,
          );
      } else if (x < 72) {
        const other = (ch + 1 + r.int(1000)) >>> 0;
        const m = encodeEnvelope(
          r.pick([EnvelopeKind.Data, EnvelopeKind.Close, EnvelopeKind.Open]),
          other,
          r.bytes(r.int(100)),
        );
        stats.sent(m, 'server → another channel');
        link.send(m);
        stats.unanswered++;
      } else if (x < 80) {
        stats.sent('text', 'client text');
        c.send('{"i":7,"o":"version","a":{}}');
        const ev = await c.next();
        const v =
          ev.type === 'msg' && typeof ev.data !== 'string'
            ? judgeReply(ev.data, { id: 0, op: null, args: null }, key.serverId)
            : null;
        if (v?.kind === 'error') stats.typedAs(v.code);
        else
          stats.problem(
            ev.type === 'timeout' ? 'hangs' : 'bad',
            `a client's text message got ${v ? JSON.stringify(v) : ev.type}`,
          );
      } else if (x < 88) {
        stats.sent(encodeEnvelope(EnvelopeKind.Close, ch), 'server closes the channel');
        link.send(encodeEnvelope(EnvelopeKind.Close, ch));
        const ev = await c.next();
        if (ev.type === 'close' && ev.code === 1000) stats.designed('1000 closed by the server');
        else
          stats.problem(
            ev.type === 'timeout' ? 'hangs' : 'bad',
            `a channel the server closed: the client saw ${ev.type}${ev.type === 'close' ? ` ${ev.code}` : ''}`,
          );
        if (!(await openClient())) break;
      } else if (x < 96) {
        stats.sent('close', 'client closes');
        c.ws.close(1000);
        const env = await nextEnvelope(link, (e) => e.kind === EnvelopeKind.Close);
        if (isEnv(env) && env.channel === ch) stats.designed('client closed: Close reached the server');
        else
          stats.problem(
            isEnv(env) ? 'bad' : 'hangs',
            `a client's close did not reach the server as Close(${ch})`,
          );
        if (!(await openClient())) break;
      } else {
        // The link itself goes: its client must be told.
        stats.sent('terminate', 'server link drops');
        link.close();
        const ev = await c.next();
        if (ev.type === 'close') stats.designed(`client closed ${ev.code} when its server's link dropped`);
        else stats.problem('hangs', `the client of a dropped link saw ${ev.type}`);
        break;
      }
    }
    (client as Sock | null)?.close();
    link.close();
  }
}

// ---- a hostile relay, at a server's own link ------------------------------------------------

/**
 * The fuzzer as the relay a (second, relay-only) server links to: channels opened and closed at
 * will, storage frames on them (each reply judged as on /v1/storage), envelopes on channels
 * never opened, junk envelopes and control messages. The server must answer every frame on an
 * open channel, ignore the rest, and stay up.
 */
async function hostileRelayLane(
  stats: Stats,
  quota: number,
  r: Rand,
): Promise<{ server: SpawnedServer | null; stop(): Promise<void> }> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/v1/link',
    maxPayload: 2 * L.WS_MAX_PAYLOAD,
  });
  await new Promise<void>((res) => wss.once('listening', () => res()));
  const links: Sock[] = [];
  const waiting: Array<(s: Sock) => void> = [];
  wss.on('connection', (ws) => {
    const sock = Sock.wrap(ws);
    const w = waiting.shift();
    if (w) w(sock);
    else links.push(sock);
  });
  const nextLink = (ms: number) =>
    new Promise<Sock | null>((res) => {
      const s = links.shift();
      if (s) return res(s);
      const timer = setTimeout(() => res(null), ms);
      waiting.push((sock) => {
        clearTimeout(timer);
        res(sock);
      });
    });
  const port = (wss.address() as { port: number }).port;
  const target = await spawnServer({
    relayUrl: `http://127.0.0.1:${port}`,
    port: null,
    nickname: 'fuzz-behind-relay',
    bundled: true,
  });
  target.process.once('exit', (code, signal) => {
    crashed ??= `the server behind the hostile relay exited (${signal ?? code})`;
  });
  const stop = async () => {
    await target.stop();
    for (const c of wss.clients) c.terminate();
    await new Promise((res) => wss.close(res));
  };
  let link: Sock | null = null;
  /** Waits for the server to link (again), answering its announcement. */
  const relink = async (): Promise<boolean> => {
    link?.close();
    // The server reconnects with a backoff that grows to 30 s.
    link = await nextLink(35_000);
    if (!link) {
      stats.problem('hangs', 'the server did not link to the relay again within 35 s');
      return false;
    }
    const ann = await nextEnvelope(link, (e) => e.kind === EnvelopeKind.Control);
    if (!isEnv(ann)) return false;
    link.send(encodeEnvelope(EnvelopeKind.Control, 0, encodeAny({ t: 'accepted', seq: 1 })));
    return true;
  };
  if (!(await relink())) return { server: target, stop };
  const ctx = new StorageContext(r);
  const open = new Set<number>();
  let nextCh = 1;
  const openChannel = () => {
    const ch = nextCh++;
    link!.send(encodeEnvelope(EnvelopeKind.Open, ch));
    open.add(ch);
    return ch;
  };
  for (let i = 0; i < quota && !crashed; i++) {
    const l = link as unknown as Sock;
    const x = r.int(100);
    if (x < 60) {
      const ch = open.size > 0 && r.chance(0.9) ? r.pick([...open]) : openChannel();
      let { frame, kind } = storageFrame(r, ctx);
      if (typeof frame === 'string') frame = new TextEncoder().encode(frame);
      stats.sent(frame, kind);
      const want = expectation(frame);
      l.send(encodeEnvelope(EnvelopeKind.Data, ch, frame));
      const env = await nextEnvelope(l, (e) => e.kind === EnvelopeKind.Data && e.channel === ch);
      if (isEnv(env)) {
        const v = judgeReply(env.payload, want, target.serverId);
        if (v.kind === 'error') stats.typedAs(v.code, v.message);
        else if (v.kind === 'result') stats.results++;
        else stats.problem('bad', `${v.why} (frame ${describe(frame)}, behind the hostile relay)`);
        continue;
      }
      if (env.type === 'close' && frame.length + 5 > L.WS_MAX_PAYLOAD && env.code === 1009) {
        stats.designed('1009 envelope beyond the WebSocket cap (the server links again)');
      } else if (env.type === 'close')
        stats.problem(
          'unexpectedCloses',
          `the server closed its link ${env.code} ${env.reason} after ${kind}`,
        );
      else stats.problem('hangs', `no reply on channel ${ch} in ${HANG_MS} ms to ${kind} ${describe(frame)}`);
      open.clear();
      if (!(await relink())) break;
    } else {
      let m: Uint8Array | string;
      let kind: string;
      if (x < 68) {
        m = encodeEnvelope(
          EnvelopeKind.Data,
          nextCh + 1000 + r.int(1000),
          encodeAny(validRequest(r, ctx, 'version')),
        );
        kind = 'data on a channel never opened';
      } else if (x < 75 && open.size > 0) {
        const ch = r.pick([...open]);
        open.delete(ch);
        m = encodeEnvelope(EnvelopeKind.Close, ch);
        kind = 'close a channel';
      } else if (x < 80 && open.size > 0) {
        m = encodeEnvelope(EnvelopeKind.Open, r.pick([...open]));
        kind = 'open a channel again';
      } else if (x < 88) {
        m = r.chance(0.5) ? r.bytes(r.int(5)) : Uint8Array.of(5 + r.int(251), ...r.bytes(4 + r.int(50)));
        kind = 'malformed envelope';
      } else if (x < 96) {
        const v = r.pick<unknown>([
          {
            t: 'rejected',
            c: 'RATE_LIMITED',
            m: 'x',
            retry: r.pick([0, 1, 2 ** 31, Number.MAX_SAFE_INTEGER, -1, 1.5]),
          },
          { t: 'rejected', c: 'RELAY_FULL', m: 'x'.repeat(r.pick([0, 500, 5000])) },
          { t: 'accepted', seq: r.pick([0, -1, 'x']) },
          { t: r.pick(['', 'open', 'x'.repeat(100)]) },
          weird(r),
        ]);
        m = encodeEnvelope(
          EnvelopeKind.Control,
          r.chance(0.8) ? 0 : r.u32(),
          r.chance(0.8) ? encodeAny(v) : r.bytes(r.int(200)),
        );
        kind = 'control message';
      } else {
        m = 'text from the relay';
        kind = 'text';
      }
      stats.sent(m, kind);
      l.send(m);
      stats.unanswered++;
      if (i % 20 === 19) {
        // Still serving: a fresh channel answers a version request.
        const ch = openChannel();
        const probe = encodeAny(validRequest(r, ctx, 'version'));
        l.send(encodeEnvelope(EnvelopeKind.Data, ch, probe));
        const env = await nextEnvelope(l, (e) => e.kind === EnvelopeKind.Data && e.channel === ch);
        if (!isEnv(env)) {
          stats.problem(
            env.type === 'timeout' ? 'hangs' : 'unexpectedCloses',
            `the server stopped answering on its link (${env.type}) after ${kind}`,
          );
          open.clear();
          if (!(await relink())) break;
        }
      }
    }
  }
  // Afterwards, a fresh channel still gets its answer.
  if (!crashed && link) {
    const l = link as unknown as Sock;
    const ch = openChannel();
    l.send(encodeEnvelope(EnvelopeKind.Data, ch, encodeAny(validRequest(r, ctx, 'version'))));
    const env = await nextEnvelope(l, (e) => e.kind === EnvelopeKind.Data && e.channel === ch);
    if (!isEnv(env))
      stats.problem('hangs', `after fuzzing, the server behind the relay did not answer (${env.type})`);
  }
  return { server: target, stop };
}

const JUNK_PATHS = [
  '/',
  '/v1',
  '/v1/servers/',
  '/v1/servers/x',
  '/v1/servers?x=%ff%fe',
  '/v1/connect/',
  '/v1/link',
  '/v1/subscribe',
  '/v1/storage',
  '/v1/id',
  '/index.html',
  '/../../../../etc/passwd',
  '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/..%2f..%2f..%2fetc%2fpasswd',
  '/assets/..%5c..%5c..%5cetc%5cpasswd',
  '/%00',
  '/%',
  '/a'.repeat(3000),
  '//etc/passwd',
  '/\u00e9',
];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND'];

function httpRequest(
  port: number,
  method: string,
  path: string,
  body?: Uint8Array,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: false, timeout: HANG_MS },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function rawTcp(port: number, bytes: Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(`${got}<timeout>`);
    }, HANG_MS);
    sock.on('data', (d) => {
      got += d.toString('latin1');
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.on('connect', () => sock.end(bytes));
  });
}

async function httpLane(
  stats: Stats,
  relay: { url: string; port: number },
  serverPort: number,
  quota: number,
  r: Rand,
  serverId: ServerId,
) {
  for (let i = 0; i < quota && !crashed; i++) {
    const x = r.int(100);
    try {
      if (x < 30) {
        const path = `/v1/servers${r.chance(0.5) ? `?${encodeURIComponent(String.fromCharCode(...r.bytes(r.int(40))))}` : ''}`;
        stats.sent(path, 'GET /v1/servers');
        const res = await httpRequest(relay.port, 'GET', path);
        const list = decodeServerList(new Uint8Array(res.body), Date.now());
        if (res.status !== 200 || !list.some((s) => s.serverId === serverId)) {
          stats.problem('bad', `GET ${path}: ${res.status}, ${list.length} servers`);
        } else stats.results++;
      } else if (x < 65) {
        const port = r.chance(0.7) ? relay.port : serverPort;
        const method = r.pick(METHODS);
        const path = r.chance(0.8)
          ? r.pick(JUNK_PATHS)
          : `/${encodeURIComponent(String.fromCharCode(...r.bytes(r.int(60))))}`;
        stats.sent(`${method} ${path}`, `${port === relay.port ? 'relay' : 'server'} ${method}`);
        const res = await httpRequest(
          port,
          method,
          path,
          method === 'GET' || method === 'HEAD' ? undefined : r.bytes(r.int(2000)),
        );
        if (res.status >= 500)
          stats.problem(
            'bad',
            `${method} ${path.slice(0, 80)} on ${port === relay.port ? 'the relay' : 'the server'}: ${res.status}`,
          );
        else if (/root:.*:0:0:/.test(res.body.toString('latin1')))
          stats.problem('bad', `${method} ${path} served /etc/passwd`);
        else stats.typedAs(`HTTP ${res.status}`);
      } else if (x < 85) {
        const id = r.pick([
          '',
          'x',
          'v0-' + 'a'.repeat(52),
          `v0-${serverId.slice(3, 20)}`,
          serverId.toUpperCase(),
          `${serverId}/extra`,
          encodeURIComponent(String.fromCharCode(...r.bytes(r.int(80)))),
          '%00',
          `${'v0-'.repeat(500)}`,
        ]);
        const url = `${relayEndpoint(relay.url, '/v1/connect/')}${id}`;
        stats.sent(url, 'upgrade to /v1/connect/<junk>');
        const s = await Sock.open(url).catch((err: Error) => ({ status: -1, err }));
        if (s instanceof Sock) {
          s.close();
          stats.problem('bad', `an upgrade to /v1/connect/${id.slice(0, 60)} was accepted`);
        } else if (s.status === 404 || s.status === 400) stats.typedAs(`upgrade ${s.status}`);
        else stats.problem('bad', `an upgrade to /v1/connect/${id.slice(0, 60)} answered ${s.status}`);
      } else {
        const port = r.chance(0.5) ? relay.port : serverPort;
        const junk = r.chance(0.5)
          ? r.bytes(1 + r.int(2000))
          : Buffer.from(`GET /v1/servers HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(r.int(3000))}\r\n`);
        stats.sent(junk, 'raw TCP');
        const answer = await rawTcp(port, junk);
        if (answer.endsWith('<timeout>') && answer.length === '<timeout>'.length) stats.unanswered++;
        else if (/^HTTP\/1\.[01] 5/.test(answer))
          stats.problem('bad', `raw TCP junk got ${answer.slice(0, 40)}`);
        else stats.typedAs(answer.startsWith('HTTP/') ? `raw ${answer.slice(9, 12)}` : 'raw closed');
      }
    } catch (err) {
      if (crashed) break;
      stats.problem('hangs', `HTTP lane: ${(err as Error).message}`);
    }
  }
}

// ---- main -----------------------------------------------------------------------------------

const MB = (b: number) => (b / 1e6).toFixed(0);

async function main(): Promise<number> {
  console.log(`fuzz: ${FRAMES} frames, seed ${SEED}, hang limit ${HANG_MS} ms`);
  // The fuzzer's writes are real writes: leave the disk all but 2 GB of what it has.
  const st = await fs.statfs(os.tmpdir());
  const reserve = Math.max(0, st.bavail * st.bsize - 2e9);
  const relay: SpawnedRelay = await spawnRelay();
  const server: SpawnedServer = await spawnServer({
    relayUrl: relay.url,
    nickname: 'fuzz-target',
    bundled: true,
    reservedSpace: String(Math.floor(reserve)),
  });
  const relayPort = Number(new URL(relay.url).port);
  const serverPort = Number(new URL(server.url!).port);
  for (const [name, p] of [
    ['the server', server.process],
    ['the relay', relay.process],
  ] as const) {
    p.once('exit', (code, signal) => {
      crashed ??= `${name} exited (${signal ?? code})`;
    });
  }
  const deadline = Date.now() + 30_000;
  while (!(await fetchGridServers(relay.url)).some((s) => s.serverId === server.serverId)) {
    if (Date.now() > deadline) throw new Error('the server was not listed within 30 s');
    await new Promise((res) => setTimeout(res, 100));
  }

  const rss = { server: [residentBytes(server.process.pid!)], relay: [residentBytes(relay.process.pid!)] };
  const sampler = setInterval(() => {
    rss.server.push(residentBytes(server.process.pid!));
    rss.relay.push(residentBytes(relay.process.pid!));
  }, 1000);

  const quota = (share: number) => Math.round(FRAMES * share);
  const lane = (name: string) => new Stats(name);
  const lanes = {
    s1: lane('server /v1/storage (1)'),
    s2: lane('server /v1/storage (2)'),
    connect: lane('relay /v1/connect/<id>'),
    link: lane('relay /v1/link'),
    pair: lane('relay forwarding, made-up server'),
    hostile: lane('server behind a hostile relay'),
    subscribe: lane('relay /v1/subscribe'),
    http: lane('HTTP, upgrades, raw TCP'),
  };
  const rand = (k: number) => new Rand(SEED * 16 + k);
  let behindRelay: Awaited<ReturnType<typeof hostileRelayLane>> | null = null;
  const t0 = performance.now();
  const progress = setInterval(() => {
    const n = Object.values(lanes).reduce((s, l) => s + l.frames, 0);
    console.log(
      `  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${n} frames; RSS server ${MB(residentBytes(server.process.pid!))} MB, relay ${MB(residentBytes(relay.process.pid!))} MB`,
    );
  }, 15_000);
  await Promise.all([
    storageLane(lanes.s1, server.url!, quota(0.19), rand(1), server.serverId, false),
    storageLane(lanes.s2, server.url!, quota(0.19), rand(2), server.serverId, false),
    storageLane(
      lanes.connect,
      relayRoute(relay.url, server.serverId),
      quota(0.2),
      rand(3),
      server.serverId,
      true,
    ),
    linkLane(lanes.link, relay.url, quota(0.14), rand(4)),
    pairLane(lanes.pair, relay.url, quota(0.08), rand(7)),
    hostileRelayLane(lanes.hostile, quota(0.1), rand(8)).then((h) => {
      behindRelay = h;
    }),
    subscribeLane(lanes.subscribe, relay.url, quota(0.04), rand(5), server.serverId),
    httpLane(
      lanes.http,
      { url: relay.url, port: relayPort },
      serverPort,
      quota(0.06),
      rand(6),
      server.serverId,
    ),
  ]);
  clearInterval(progress);
  const seconds = (performance.now() - t0) / 1000;
  // Let what the fuzzing left behind settle before the last look at memory.
  await new Promise((res) => setTimeout(res, 2000));
  clearInterval(sampler);
  rss.server.push(residentBytes(server.process.pid!));
  rss.relay.push(residentBytes(relay.process.pid!));

  // ---- afterwards, valid requests still work ----
  const after: string[] = [];
  if (!crashed) {
    try {
      const r = new Rand(SEED);
      const si = asStorageIndex(r.bytes(16));
      const secrets = { renew: r.bytes(32), cancel: r.bytes(32), upload: r.bytes(32) };
      const data = r.bytes(5000);
      const direct = await connectStorageServer(server.url!, server.serverId);
      const a = await direct.allocateBuckets(si, secrets, [asShareNum(0)], data.length);
      if (a.allocated.length !== 1) throw new Error('allocate gave no bucket');
      await direct.writeShare(si, asShareNum(0), secrets.upload, 0, data);
      await direct.closeShare(si, asShareNum(0), secrets.upload);
      direct.close();
      after.push('a direct upload (allocate, write, close) works');
      const relayed = await connectStorageServer(relayRoute(relay.url, server.serverId), server.serverId);
      const got = await relayed.readShare(si, asShareNum(0), 0, data.length);
      if (!Buffer.from(got).equals(Buffer.from(data)))
        throw new Error('the share read back through the relay differs');
      relayed.close();
      after.push('reading it back through the relay works');
      const list = await fetchGridServers(relay.url);
      if (!list.some((s) => s.serverId === server.serverId))
        throw new Error('the relay no longer lists the server');
      after.push(`GET /v1/servers lists the server (${list.length} listed, made-up ones included)`);
    } catch (err) {
      after.push(`FAILED: ${(err as Error).message}`);
    }
  }

  // ---- report ----
  const all = Object.values(lanes);
  const total = all.reduce((s, l) => s + l.frames, 0);
  console.log(
    `\n${total} frames in ${seconds.toFixed(0)} s (${(total / seconds).toFixed(0)}/s), seed ${SEED}\n`,
  );
  const rows = all.map((l) => [
    l.name,
    String(l.frames),
    String(Object.values(l.typed).reduce((a, b) => a + b, 0)),
    String(l.results),
    String(l.unanswered),
    String(Object.values(l.byDesign).reduce((a, b) => a + b, 0)),
    String(l.bad),
    String(l.hangs),
    String(l.unexpectedCloses),
  ]);
  table(
    [
      'lane',
      'frames',
      'typed errors',
      'valid results',
      'no reply due',
      'closes by design',
      'NON-TYPED',
      'HANGS',
      'UNEXPECTED CLOSES',
    ],
    rows,
  );
  for (const l of all) {
    const typed = Object.entries(l.typed)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    const designed = Object.entries(l.byDesign)
      .map(([c, n]) => `${c}: ${n}`)
      .join(', ');
    const kinds = Object.entries(l.kinds)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    console.log(
      `\n${l.name}\n  sent: ${kinds}\n  answers: ${typed || '-'}${designed ? `\n  closed by design: ${designed}` : ''}`,
    );
    for (const [code, msgs] of Object.entries(l.messages)) {
      if (code !== 'BAD_REQUEST') console.log(`  ${code} said: ${[...msgs].join(' | ')}`);
    }
    for (const p of l.problems) console.log(`  PROBLEM: ${p}`);
  }
  const logLines = (out: string) => out.split('\n').filter((x) => x.trim()).length;
  const internal = server
    .output()
    .split('\n')
    .filter((x) => /internal error|unhandled|TypeError|RangeError/.test(x));
  const relayInternal = relay
    .output()
    .split('\n')
    .filter((x) => /internal error|unhandled|TypeError|RangeError/.test(x));
  console.log(`\nserver log: ${logLines(server.output())} lines, ${internal.length} about internal errors`);
  for (const x of internal.slice(0, 10)) console.log(`  ${x}`);
  console.log(`relay log: ${logLines(relay.output())} lines, ${relayInternal.length} about internal errors`);
  for (const x of relayInternal.slice(0, 10)) console.log(`  ${x}`);
  const hidden = (behindRelay as Awaited<ReturnType<typeof hostileRelayLane>> | null)?.server;
  const hiddenInternal = (hidden?.output() ?? '')
    .split('\n')
    .filter((x) => /internal error|unhandled|TypeError|RangeError/.test(x));
  if (hidden) {
    console.log(
      `log of the server behind the hostile relay: ${logLines(hidden.output())} lines, ${hiddenInternal.length} about internal errors; RSS now ${MB(residentBytes(hidden.process.pid!))} MB`,
    );
    for (const x of hiddenInternal.slice(0, 10)) console.log(`  ${x}`);
  }
  const fig = (xs: number[]) =>
    `start ${MB(xs[0])} MB, max ${MB(Math.max(...xs))} MB, end ${MB(xs[xs.length - 1])} MB`;
  console.log(`RSS server: ${fig(rss.server)}; relay: ${fig(rss.relay)}`);
  console.log(`crashes: ${crashed ? 1 : 0}${crashed ? ` (${crashed})` : ''}`);
  if (crashed) {
    for (const l of all) console.log(`  last frames of ${l.name}:\n    ${l.recent.join('\n    ')}`);
  }
  for (const a of after) console.log(`after fuzzing: ${a}`);
  const problems =
    all.reduce((s, l) => s + l.bad + l.hangs + l.unexpectedCloses, 0) +
    internal.length +
    relayInternal.length +
    hiddenInternal.length +
    (crashed ? 1 : 0) +
    after.filter((a) => a.startsWith('FAILED')).length +
    (after.length === 0 ? 1 : 0);
  console.log(
    `\n${problems === 0 ? 'OK' : 'FAILED'}: seed ${SEED}; reproduce with --seed ${SEED} --frames ${FRAMES}`,
  );
  return problems === 0 ? 0 : 1;
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
process.once('SIGTERM', () => {
  cleanup();
  process.exit(143);
});
process.once('exit', () => cleanup());

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`fuzz failed: ${(err as Error).stack ?? err}`);
} finally {
  cleanup();
}
process.exit(code);
