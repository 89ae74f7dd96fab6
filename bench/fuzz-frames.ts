/**
 * Frames for `npm run fuzz` (bench/fuzz.ts), made from a seeded generator: valid requests of
 * every storage op, the same mutated (values swapped for other types, huge numbers and
 * lengths, deep nesting, wrong ids, fields dropped or added; then bit flips, truncation,
 * extension, splices and hostile CBOR heads at the byte level), hand-made hostile CBOR,
 * random bytes and text; announcements and relay envelopes for the relay's link. And the
 * checks of what comes back: every storage reply must be a typed error or a result of the
 * right shape for its op, addressed to the right id; every relay control reply a typed
 * acceptance or refusal. Pure functions; the sockets are in fuzz.ts.
 */
import { encode as cborgEncode } from 'cborg';
import { type Announcement, signAnnouncement } from '../core/protocol/announcement.ts';
import { decodeCbor } from '../core/protocol/cbor.ts';
import {
  decodePutResults,
  decodeReadTestWriteResult,
  decodeReadvResult,
  decodeRequest,
  type Op,
  type PutArgs,
  RequestError,
} from '../core/protocol/frames.ts';
import {
  generateKeyPair,
  type ServerKeyPair,
  signTagged,
  verifyHandshake,
} from '../core/protocol/identity.ts';
import * as L from '../core/protocol/limits.ts';
import { encodeEnvelope, EnvelopeKind } from '../core/protocol/relay-envelope.ts';
import type { ServerId } from '../core/types.ts';

// ---- deterministic randomness ----------------------------------------------------------

/** sfc32: small, fast, seeded; every lane of the fuzzer has its own. */
export class Rand {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    this.d = (seed / 0x100000000) >>> 0 || 1;
    for (let i = 0; i < 15; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  float(): number {
    return this.u32() / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const x = this.u32();
      out[i] = x;
      if (i + 1 < n) out[i + 1] = x >>> 8;
      if (i + 2 < n) out[i + 2] = x >>> 16;
      if (i + 3 < n) out[i + 3] = x >>> 24;
    }
    return out;
  }
}

// ---- valid requests ---------------------------------------------------------------------

export const STORAGE_OPS: Op[] = [
  'hello',
  'version',
  'allocate',
  'write',
  'close',
  'abort',
  'list',
  'read',
  'lease',
  'corrupt',
  'rtw',
  'mlist',
  'mread',
  'mreadv',
  'put',
];

/** A few storage indexes and secrets per lane, so requests meet each other's state. */
export class StorageContext {
  readonly sis: Uint8Array[];
  readonly uploads: Uint8Array[];
  readonly leases: Uint8Array[];
  readonly enablers: Uint8Array[];
  nextId = 1;
  constructor(r: Rand) {
    this.sis = Array.from({ length: 6 }, () => r.bytes(16));
    this.uploads = Array.from({ length: 3 }, () => r.bytes(r.pick([16, 20, 32, 64])));
    this.leases = Array.from({ length: 3 }, () => r.bytes(32));
    this.enablers = Array.from({ length: 2 }, () => r.bytes(32));
  }
}

/** A well-formed request value {i, o, a} for `op` (the args as they go on the wire). */
export function validRequest(
  r: Rand,
  ctx: StorageContext,
  op: Op,
): { i: number; o: string; a: Record<string, unknown> } {
  const si = r.pick(ctx.sis);
  const sh = r.int(10);
  const upload = r.pick(ctx.uploads);
  const renew = r.pick(ctx.leases);
  const cancel = r.pick(ctx.leases);
  let a: Record<string, unknown>;
  switch (op) {
    case 'hello':
      a = { challenge: r.bytes(32) };
      break;
    case 'version':
      a = {};
      break;
    case 'allocate': {
      const shares = [...new Set(Array.from({ length: 1 + r.int(4) }, () => r.int(10)))];
      a = { si, renew, cancel, upload, shares, size: r.pick([0, 1, 100, 1000, 65_536, 1 << 20]) };
      break;
    }
    case 'write':
      a = {
        si,
        sh,
        upload,
        offset: r.pick([0, 0, 10, 100, 1000]),
        data: r.bytes(r.pick([0, 1, 10, 100, 1000, 4096])),
      };
      break;
    case 'close':
    case 'abort':
      a = { si, sh, upload };
      break;
    case 'list':
    case 'mlist':
      a = { si };
      break;
    case 'mreadv':
      a = { si, offset: r.pick([0, 0, 10, 1000]), length: r.pick([0, 1, 100, L.MAX_READV_BYTES]) };
      break;
    case 'read':
    case 'mread':
      a = {
        si,
        sh,
        offset: r.pick([0, 0, 10, 1000]),
        length: r.pick([0, 1, 100, 1000, 65_536, L.MAX_READ_BYTES]),
      };
      break;
    case 'lease':
      a = { si, renew, cancel };
      break;
    case 'corrupt':
      a = {
        kind: r.pick(['immutable', 'mutable']),
        si,
        sh,
        reason: r.pick(['bad hash', '', 'x'.repeat(200)]),
      };
      break;
    case 'rtw': {
      const tw = Array.from({ length: r.int(3) }, (_, j) => [
        (sh + j) % 10,
        r.chance(0.5) ? [] : [[0, r.pick([0, 1, 32]), r.bytes(r.pick([0, 1, 32]))]],
        r.chance(0.2) ? [] : [[r.pick([0, 0, 100, 5000]), r.bytes(r.pick([1, 100, 2000]))]],
        r.chance(0.8) ? null : r.pick([0, 10, 100_000]),
      ]);
      a = {
        si,
        we: r.pick(ctx.enablers),
        renew,
        cancel,
        tw,
        rv: r.chance(0.5) ? [] : [[0, r.pick([0, 10, 1000])]],
      };
      break;
    }
    case 'put': {
      const size = r.pick([0, 1, 100, 5000]);
      const files = Array.from({ length: r.int(4) }, (_, j) => [
        ctx.sis[(ctx.sis.indexOf(si) + j) % ctx.sis.length],
        renew,
        cancel,
        upload,
        size,
        Array.from({ length: r.int(3) }, (_, k) => [
          (sh + k) % 10,
          r.bytes(r.chance(0.8) ? size : r.int(size + 1)),
        ]),
      ]);
      a = { f: files };
      break;
    }
  }
  return { i: ctx.nextId++, o: op, a };
}

// ---- hostile values -----------------------------------------------------------------------

const NUMBERS = [
  0,
  1,
  -1,
  255,
  256,
  65_535,
  65_536,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 45,
  2 ** 48,
  2 ** 48 + 1,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  0.5,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e300,
  L.MAX_READ_BYTES,
  L.MAX_READ_BYTES + 1,
  L.MAX_WRITE_BYTES + 1,
];
const STRINGS = [
  '',
  'a',
  'read',
  'rtw',
  'immutable',
  'mutable',
  '__proto__',
  'constructor',
  'toString',
  '\u0000',
  '🪨',
  'é',
];

/** Nested arrays `depth` deep around 0. */
function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A map with an own "__proto__" key (an object literal would set the prototype instead). */
function protoMap(value: unknown): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  Object.defineProperty(m, '__proto__', { value, enumerable: true, writable: true, configurable: true });
  return m;
}

/** A value of a random kind, often one a field does not expect. */
export function weird(r: Rand, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 9)) {
    case 0:
      return r.pick(NUMBERS);
    case 1:
      return r.chance(0.8) ? r.pick(STRINGS) : 'x'.repeat(r.pick([100, 1000, 40_000]));
    case 2:
      return r.bytes(r.pick([0, 1, 15, 16, 17, 20, 31, 32, 33, 64, 65, 1000, 65_536]));
    case 3:
      return r.pick([null, true, false]);
    case 4:
      return r.int(1 << 30);
    case 5:
      return r.chance(0.5)
        ? []
        : Array.from({ length: r.pick([1, 3, 257, 300]) }, () =>
            r.chance(0.9) ? r.int(300) : weird(r, depth + 1),
          );
    case 6:
      return nested(r.pick([14, 15, 16, 17, 40]));
    case 7:
      return r.chance(0.3)
        ? protoMap(weird(r, depth + 1))
        : Object.fromEntries(Array.from({ length: r.pick([0, 1, 5, 300]) }, (_, k) => [`k${k}`, r.int(10)]));
    default:
      return { i: r.pick(NUMBERS), o: r.pick(STRINGS), a: weird(r, depth + 1) };
  }
}

/** Every (container, key) in a value tree, the root's holder first. */
function slots(holder: { v: unknown }): Array<[Record<string | number, unknown>, string | number]> {
  const out: Array<[Record<string | number, unknown>, string | number]> = [[holder as never, 'v']];
  const walk = (v: unknown, depth: number) => {
    if (depth > 6 || v === null || typeof v !== 'object' || v instanceof Uint8Array) return;
    for (const k of Object.keys(v)) {
      out.push([v as never, Array.isArray(v) ? Number(k) : k]);
      walk((v as Record<string, unknown>)[k], depth + 1);
    }
  };
  walk(holder.v, 0);
  return out;
}

/** The value with one to three of its parts replaced, removed or joined by others. */
export function mutateValue(r: Rand, value: unknown): unknown {
  const holder = { v: structuredClone(value) };
  for (let n = 1 + r.int(3); n > 0; n--) {
    const all = slots(holder);
    const [container, key] = r.pick(all);
    const what = r.int(10);
    if (what < 5) container[key] = weird(r);
    else if (what < 7 && container !== (holder as never) && !Array.isArray(container)) delete container[key];
    else if (
      what < 8 &&
      typeof container[key] === 'object' &&
      container[key] !== null &&
      !(container[key] instanceof Uint8Array)
    ) {
      (container[key] as Record<string, unknown>)[r.pick(['x', 'i', 'o', 'a', 'si', 'sh', 'e', 'r'])] =
        weird(r);
    } else if (what < 9) container[key] = [container[key]];
    else container[key] = r.pick(NUMBERS);
  }
  return holder.v;
}

/** CBOR of anything cborg can encode; frames with hostile numbers (NaN, -0, 2^64) included. */
export function encodeAny(value: unknown): Uint8Array {
  return cborgEncode(value);
}

// ---- byte-level ---------------------------------------------------------------------------

/** CBOR heads a decoder must refuse or bound: huge lengths, indefinite items, tags, odd simples. */
const HOSTILE_HEADS: number[][] = [
  [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // uint 2^64-1
  [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -2^64
  [0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // 2^53
  [0x5b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // bytes of 2^53-1
  [0x5a, 0xff, 0xff, 0xff, 0xff], // bytes of 4 GiB
  [0x7a, 0x7f, 0xff, 0xff, 0xff], // text of 2 GiB
  [0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // array of 2^32
  [0x9a, 0x7f, 0xff, 0xff, 0xff], // array of 2^31
  [0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // map of 2^32
  [0x5f],
  [0x7f],
  [0x9f],
  [0xbf],
  [0xff], // indefinite lengths and break
  [0xc0],
  [0xc2],
  [0xd8, 0x20],
  [0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // tags
  [0xf7],
  [0xf8, 0x20],
  [0xfc],
  [0xfd],
  [0xfe],
  [0x1c],
  [0x3e], // undefined, simple, reserved
  [0xf9, 0x7c, 0x00],
  [0xf9, 0x7e, 0x00],
  [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1], // inf, NaN, NaN payload
];

export function mutateBytes(r: Rand, frame: Uint8Array): Uint8Array {
  let b = Array.from(frame);
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = b.length === 0 ? 0 : r.int(b.length);
    switch (r.int(8)) {
      case 0:
        for (let k = 1 + r.int(8); k > 0 && b.length > 0; k--) b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1:
        b = b.slice(0, at);
        break;
      case 2:
        b.push(...r.bytes(1 + r.int(64)));
        break;
      case 3:
        b.splice(at, 0, ...r.bytes(1 + r.int(8)));
        break;
      case 4:
        b.splice(at, 1 + r.int(16));
        break;
      case 5:
        b.splice(at, r.int(3), ...r.pick(HOSTILE_HEADS));
        break;
      case 6: {
        const from = r.int(b.length + 1);
        b.splice(at, 0, ...b.slice(from, from + 1 + r.int(32)));
        break;
      }
      default:
        b[at] = r.pick([0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x40, 0x60, 0x80, 0xa0, 0xff]);
    }
  }
  return Uint8Array.from(b);
}

/** Hand-made hostile CBOR: what an encoder would never write. */
export function hostileFrame(r: Rand): Uint8Array {
  const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => Number.parseInt(h, 16)));
  switch (r.int(10)) {
    case 0: {
      // Deep nesting: arrays or maps, up to far beyond the decoder's depth limit.
      const depth = r.pick([15, 16, 17, 100, 10_000, 100_000]);
      const unit = r.chance(0.5) ? [0x81] : [0xa1, 0x61, 0x61];
      const out = new Uint8Array(depth * unit.length + 1);
      for (let i = 0; i < depth; i++) out.set(unit, i * unit.length);
      return out;
    }
    case 1:
      return hex('a36169016169026161a0'); // {i:1, i:2, a:{}}: a repeated key
    case 2:
      return hex('bf616901616f6776657273696f6e6161a0ff'); // indefinite map {i:1, o:'version', a:{}}
    case 3:
      return Uint8Array.of(...r.pick(HOSTILE_HEADS), ...r.bytes(r.int(16)));
    case 4:
      return encodeAny(
        new Map<unknown, unknown>([
          [1, 2],
          [new Uint8Array(2), 'x'],
        ]),
      ); // non-text keys
    case 5:
      return hex('a3616901616f6476657273696f6e6161c0a0'); // a tag inside
    case 6:
      return Uint8Array.of(
        0xa3,
        ...encodeAny('i').slice(0),
        0x1a,
        0xff,
        0xff,
        0xff,
        0xff,
        ...hex('616f6776657273696f6e6161a0'),
      ); // id 2^32-1
    case 7:
      return Uint8Array.of(0x9a, 0x00, 0x0f, 0xff, 0xff, ...r.bytes(r.int(100))); // a long array, short frame
    case 8:
      return encodeAny({ i: r.pick([0, 2 ** 32, -5, 1.5, 'x']), o: 'version', a: {} }); // ids out of range
    default:
      return new Uint8Array(0);
  }
}

// ---- checking storage replies -----------------------------------------------------------

export const STORAGE_ERROR_CODES = new Set([
  'NOT_FOUND',
  'BAD_SECRET',
  'BAD_WRITE_ENABLER',
  'CONFLICT',
  'NO_SPACE',
  'TOO_LARGE',
  'BAD_REQUEST',
  'UNAVAILABLE',
  'TIMEOUT',
]);

export type ReplyVerdict =
  | { kind: 'error'; code: string; message: string }
  | { kind: 'result' }
  | { kind: 'bad'; why: string };

/** What a frame asks, as the server should understand it: its op (if valid) and the id its reply must carry. */
export function expectation(frame: Uint8Array | string): { id: number; op: Op | null; args: unknown } {
  if (typeof frame === 'string') return { id: 0, op: null, args: null };
  try {
    const req = decodeRequest(frame);
    return { id: req.id, op: req.op, args: req.args };
  } catch (err) {
    return { id: err instanceof RequestError ? err.id : 0, op: null, args: null };
  }
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const shareList = (v: unknown) =>
  Array.isArray(v) && v.length <= L.MAX_SHARES && v.every((x) => isUint(x, L.MAX_SHNUM));

/**
 * Judges one reply to one frame: a typed error or a result of the op's shape, carrying the
 * id the request had (0 for a frame too broken to have one). `serverId` checks hello's signature.
 */
export function judgeReply(
  reply: Uint8Array,
  want: ReturnType<typeof expectation>,
  serverId: ServerId,
): ReplyVerdict {
  let v: unknown;
  try {
    v = decodeCbor(reply, L.WS_MAX_PAYLOAD);
  } catch (err) {
    return { kind: 'bad', why: `reply is not acceptable CBOR: ${(err as Error).message}` };
  }
  if (!isMap(v)) return { kind: 'bad', why: 'reply is not a map' };
  const keys = Object.keys(v).sort().join(',');
  if (!isUint(v.i, 2 ** 32 - 1)) return { kind: 'bad', why: `reply id ${String(v.i)} is not an id` };
  if (keys === 'e,i') {
    const e = v.e;
    if (!isMap(e) || typeof e.c !== 'string' || typeof e.m !== 'string' || Object.keys(e).length !== 2) {
      return { kind: 'bad', why: 'error reply is not {c, m}' };
    }
    if (!STORAGE_ERROR_CODES.has(e.c))
      return { kind: 'bad', why: `error code ${e.c} is not a storage error code` };
    // Refusals not about this frame (too many in flight) may come without its id.
    if (v.i !== want.id) return { kind: 'bad', why: `error reply to id ${want.id} carries id ${v.i}` };
    return { kind: 'error', code: e.c, message: e.m };
  }
  if (keys !== 'i,r') return { kind: 'bad', why: `reply has fields ${keys}` };
  if (v.i !== want.id || want.op === null) {
    return {
      kind: 'bad',
      why: `a result for ${want.op ?? 'a frame the server cannot have understood'} (id ${want.id}) carries id ${v.i}`,
    };
  }
  const r = v.r;
  const args = want.args as Record<string, unknown>;
  const ok = (() => {
    switch (want.op) {
      case 'hello':
        return (
          isMap(r) &&
          r.serverId === serverId &&
          r.signature instanceof Uint8Array &&
          verifyHandshake(serverId, args.challenge as Uint8Array, r.signature)
        );
      case 'version':
        return (
          isMap(r) &&
          isUint(r.maxImmutable) &&
          isUint(r.maxMutable) &&
          isUint(r.available) &&
          typeof r.app === 'string'
        );
      case 'allocate': {
        if (!isMap(r) || !shareList(r.alreadyHave) || !shareList(r.allocated)) return false;
        const asked = new Set(args.shares as number[]);
        return [...(r.alreadyHave as number[]), ...(r.allocated as number[])].every((s) => asked.has(s));
      }
      case 'write':
      case 'close':
      case 'abort':
      case 'lease':
      case 'corrupt':
        return r === null;
      case 'list':
      case 'mlist':
        return shareList(r);
      case 'mreadv':
        try {
          decodeReadvResult(r, args.length as number);
          return true;
        } catch {
          return false;
        }
      case 'read':
      case 'mread':
        return r instanceof Uint8Array && r.length <= (args.length as number);
      case 'rtw':
        try {
          decodeReadTestWriteResult(r);
          return true;
        } catch {
          return false;
        }
      case 'put':
        try {
          decodePutResults(r, (args as unknown as PutArgs).files);
          return true;
        } catch {
          return false;
        }
    }
  })();
  return ok ? { kind: 'result' } : { kind: 'bad', why: `${want.op} result of the wrong shape` };
}

/** One frame for a storage lane, and what kind it is (for the report). */
export function storageFrame(r: Rand, ctx: StorageContext): { frame: Uint8Array | string; kind: string } {
  const x = r.int(100);
  const op = r.pick(STORAGE_OPS);
  if (x < 28) return { frame: encodeAny(validRequest(r, ctx, op)), kind: 'valid' };
  if (x < 56) return { frame: encodeAny(mutateValue(r, validRequest(r, ctx, op))), kind: 'mutated value' };
  if (x < 82) return { frame: mutateBytes(r, encodeAny(validRequest(r, ctx, op))), kind: 'mutated bytes' };
  if (x < 89) return { frame: hostileFrame(r), kind: 'hostile CBOR' };
  if (x < 95) return { frame: r.bytes(r.chance(0.9) ? r.int(300) : r.int(70_000)), kind: 'random bytes' };
  if (x < 98) {
    const text = r.chance(0.5)
      ? JSON.stringify({ i: 1, o: op, a: {} })
      : String.fromCharCode(...r.bytes(r.int(200)).map((c) => 32 + (c % 90)));
    return { frame: text, kind: 'text' };
  }
  // Big: around the frame limit (a typed refusal), rarely beyond the WebSocket cap (a close).
  if (r.chance(0.03))
    return { frame: r.bytes(L.WS_MAX_PAYLOAD + 1 + r.int(1000)), kind: 'beyond the WebSocket cap' };
  const big = validRequest(r, ctx, 'write');
  big.a.data = r.bytes(L.MAX_WRITE_BYTES - 64 + r.int(L.FRAME_OVERHEAD + 128));
  return { frame: r.chance(0.5) ? encodeAny(big) : r.bytes(L.MAX_FRAME_BYTES - 8 + r.int(64)), kind: 'big' };
}

// ---- the relay's link ---------------------------------------------------------------------

export const PROTOCOL_ERROR_CODES = new Set([
  'BAD_FRAME',
  'BAD_SERVER_ID',
  'BAD_KEY',
  'BAD_REQUEST',
  'BAD_ANNOUNCEMENT',
  'HANDSHAKE_FAILED',
  'CONNECTION_FAILED',
  'RELAY_UNAVAILABLE',
  'RATE_LIMITED',
  'RELAY_FULL',
  'ALREADY_LINKED',
]);

/** A fresh announcement for `key` (valid: fresh expiry, seq = now). */
export function announcement(key: ServerKeyPair, r: Rand): Announcement {
  const now = Date.now();
  return {
    serverId: key.serverId,
    nickname: r.pick(['', 'fuzz', 'n'.repeat(64)]),
    url: r.pick([null, 'ws://127.0.0.1:9/v1/storage']),
    availableSpace: r.int(1e9),
    seq: now + r.int(1000),
    expires: now + L.ANNOUNCEMENT_LIFETIME_MS - r.int(60_000),
  };
}

/** One message for a link lane: what it is, and whether the relay owes a control reply. */
export function linkMessage(
  r: Rand,
  key: ServerKeyPair,
): { msg: Uint8Array | string; kind: string; wantsReply: boolean; closes?: boolean } {
  const x = r.int(100);
  const control = (payload: Uint8Array, kind: string) => ({
    msg: encodeEnvelope(EnvelopeKind.Control, r.chance(0.9) ? 0 : r.u32(), payload),
    kind,
    wantsReply: true,
  });
  if (x < 25) {
    const signed = signAnnouncement(key, announcement(key, r));
    return control(encodeAny({ t: 'announce', body: signed.body, sig: signed.signature }), 'announce');
  }
  if (x < 40) {
    const signed = signAnnouncement(key, announcement(key, r));
    const v = { t: 'announce', body: signed.body, sig: signed.signature };
    return r.chance(0.5)
      ? control(encodeAny(mutateValue(r, v)), 'announce, mutated value')
      : control(mutateBytes(r, encodeAny(v)), 'announce, mutated bytes');
  }
  if (x < 50) {
    // A body signed correctly but saying odd things (another server, bad fields, a stale expiry).
    const ann = announcement(key, r) as unknown as Record<string, unknown>;
    const bent = mutateValue(r, ann) as Record<string, unknown>;
    let body: Uint8Array;
    try {
      body = encodeAny(bent);
    } catch {
      body = r.bytes(40);
    }
    // Signed as an announcement is (the relay must refuse what it says, not the signature).
    const sig = signTagged(key, 'cairn-announcement-v1', body);
    return control(encodeAny({ t: 'announce', body, sig }), 'announce, signed odd body');
  }
  if (x < 58) return control(r.chance(0.5) ? encodeAny(weird(r)) : r.bytes(r.int(300)), 'control junk');
  if (x < 75) {
    return {
      msg: encodeEnvelope(
        r.pick([EnvelopeKind.Open, EnvelopeKind.Data, EnvelopeKind.Close]),
        r.u32(),
        r.bytes(r.int(200)),
      ),
      kind: 'envelope on a channel',
      wantsReply: false,
    };
  }
  if (x < 85) {
    const m = r.bytes(5 + r.int(100));
    m[0] = 5 + r.int(251);
    return { msg: m, kind: 'unknown envelope kind', wantsReply: false, closes: true };
  }
  if (x < 92) return { msg: r.bytes(r.int(5)), kind: 'truncated envelope', wantsReply: false, closes: true };
  return { msg: 'text on a link', kind: 'text', wantsReply: false };
}

export const freshKey = generateKeyPair;

/** Judges a message the relay sent on a link: a control reply must be a typed acceptance or refusal. */
export function judgeControl(
  payload: Uint8Array,
): { kind: 'accepted' | 'rejected'; code?: string } | { kind: 'bad'; why: string } {
  let v: unknown;
  try {
    v = decodeCbor(payload, L.MAX_ANNOUNCEMENT_BYTES + 256);
  } catch (err) {
    return { kind: 'bad', why: `control reply is not CBOR: ${(err as Error).message}` };
  }
  if (!isMap(v)) return { kind: 'bad', why: 'control reply is not a map' };
  if (v.t === 'accepted')
    return isUint(v.seq) ? { kind: 'accepted' } : { kind: 'bad', why: 'accepted without a seq' };
  if (v.t === 'rejected') {
    if (typeof v.c !== 'string' || !PROTOCOL_ERROR_CODES.has(v.c))
      return { kind: 'bad', why: `refusal code ${String(v.c)}` };
    if (typeof v.m !== 'string') return { kind: 'bad', why: 'refusal without a message' };
    if (v.retry !== undefined && !isUint(v.retry))
      return { kind: 'bad', why: `refusal retry ${String(v.retry)}` };
    return { kind: 'rejected', code: v.c };
  }
  return { kind: 'bad', why: `control message of type ${String(v.t)}` };
}
