/**
 * The storage protocol's frames: one binary WebSocket message each, CBOR-encoded.
 *   request  {i: id, o: op, a: {args}}
 *   reply    {i: id, r: result}  or  {i: id, e: {c: code, m: message}}
 * Ids let many requests share one connection and finish in any order. Id 0 is for
 * replies to frames too broken to have an id. Every decoder here checks sizes, types
 * and counts against limits.ts and throws ProtocolError('BAD_REQUEST'/'BAD_FRAME').
 */
import { toHex } from '../primitives/bytes.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../types.ts';
import { checkArray, checkUint, decodeCbor, encodeCbor, Fields } from './cbor.ts';
import { ProtocolError } from './errors.ts';
import * as L from './limits.ts';
import { isCanonical, type Range } from './ranges.ts';
import type {
  AllocateResult,
  ReadVector,
  ShareTestWrite,
  StorageErrorCode,
  WholeSharesResult,
} from './storage-api.ts';

export interface HelloArgs {
  challenge: Uint8Array;
}
export interface AllocateArgs {
  si: StorageIndex;
  renew: Uint8Array;
  cancel: Uint8Array;
  upload: Uint8Array;
  shares: ShareNum[];
  size: number;
}
export interface WriteArgs {
  si: StorageIndex;
  sh: ShareNum;
  upload: Uint8Array;
  offset: number;
  data: Uint8Array;
  /**
   * Close the share after this write, in the same request (servers whose hello answer lists
   * FEATURE_WRITE_CLOSE); the reply then means what a close's does.
   */
  close?: boolean;
}
export interface BucketArgs {
  si: StorageIndex;
  sh: ShareNum;
  upload: Uint8Array;
}
export interface IndexArgs {
  si: StorageIndex;
}
export interface ReadArgs {
  si: StorageIndex;
  sh: ShareNum;
  offset: number;
  length: number;
}
/** The same range of every mutable share of `si` the server holds (Tahoe's slot_readv with no shares named). */
export type ReadvArgs = Omit<ReadArgs, 'sh'>;
export interface LeaseArgs {
  si: StorageIndex;
  renew: Uint8Array;
  cancel: Uint8Array;
}
export interface CorruptArgs {
  kind: 'immutable' | 'mutable';
  si: StorageIndex;
  sh: ShareNum;
  reason: string;
}
export interface ReadTestWriteArgs {
  si: StorageIndex;
  writeEnabler: Uint8Array;
  renew: Uint8Array;
  cancel: Uint8Array;
  testWrite: Map<ShareNum, ShareTestWrite>;
  readVector: ReadVector[];
}

/** One file of a `put`: allocate's arguments and every share's data, whole. */
export interface PutFile {
  si: StorageIndex;
  renew: Uint8Array;
  cancel: Uint8Array;
  upload: Uint8Array;
  size: number;
  shares: Map<ShareNum, Uint8Array>;
}
export interface PutArgs {
  files: PutFile[];
}

/** Every operation and its decoded arguments. */
export interface OpArgs {
  hello: HelloArgs;
  version: Record<string, never>;
  allocate: AllocateArgs;
  write: WriteArgs;
  close: BucketArgs;
  abort: BucketArgs;
  list: IndexArgs;
  read: ReadArgs;
  lease: LeaseArgs;
  corrupt: CorruptArgs;
  rtw: ReadTestWriteArgs;
  mlist: IndexArgs;
  mread: ReadArgs;
  mreadv: ReadvArgs;
  put: PutArgs;
}
export type Op = keyof OpArgs;
export type Request = { [K in Op]: { id: number; op: K; args: OpArgs[K] } }[Op];

const MAX_ID = 2 ** 32 - 1;

/**
 * What a server can do beyond the operations every Cairn server has, as its hello answer
 * lists them (`features`): a client asks for them only of servers that list them, and
 * servers ignore what they do not know.
 */
export const FEATURE_WRITE_CLOSE = 'write-close';
/** allocate's answer lists every share the server holds (AllocateResult.held). */
export const FEATURE_ALLOCATE_HELD = 'allocate-held';
/** The `put` operation: several small files' shares allocated, written and closed at once. */
export const FEATURE_PUT = 'put';
/** The `mreadv` operation: one range of every mutable share of a storage index, in one reply. */
export const FEATURE_MUTABLE_READV = 'mutable-readv';
export const SERVER_FEATURES: readonly string[] = [
  FEATURE_WRITE_CLOSE,
  FEATURE_ALLOCATE_HELD,
  FEATURE_PUT,
  FEATURE_MUTABLE_READV,
];
/** Features a hello answer may list at most, and their length. */
export const MAX_FEATURES = 32;
export const MAX_FEATURE_CHARS = 40;
const OPS = new Set<string>([
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
]);

// ---- client side: encode requests -------------------------------------------------

export function encodeRequest<K extends Op>(
  id: number,
  op: K,
  args: OpArgs[K],
  alloc?: (size: number) => Uint8Array,
): Uint8Array {
  let a: Record<string, unknown>;
  if (op === 'rtw') {
    const r = args as ReadTestWriteArgs;
    a = {
      si: r.si,
      we: r.writeEnabler,
      renew: r.renew,
      cancel: r.cancel,
      tw: [...r.testWrite].map(([sh, v]) => [
        sh,
        v.test.map((t) => [t.offset, t.size, t.specimen]),
        v.write.map((w) => [w.offset, w.data]),
        v.newLength,
      ]),
      rv: r.readVector.map((v) => [v.offset, v.size]),
    };
  } else if (op === 'put') {
    // Files as arrays: [si, renew, cancel, upload, size, [[sh, data]…]].
    a = {
      f: (args as PutArgs).files.map((f) => [f.si, f.renew, f.cancel, f.upload, f.size, [...f.shares]]),
    };
  } else {
    a = args as unknown as Record<string, unknown>;
  }
  return encodeCbor({ i: id, o: op, a }, alloc);
}

// ---- server side: decode requests -------------------------------------------------

/** The id of a frame, if it has a readable one: lets a server address its error reply. */
export function peekId(value: unknown): number {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const i = (value as Record<string, unknown>).i;
    if (typeof i === 'number' && Number.isInteger(i) && i > 0 && i <= MAX_ID) return i;
  }
  return 0;
}

/** Decodes and validates one request frame. Errors carry the request id when it could be read. */
export function decodeRequest(frame: Uint8Array): Request {
  const value = decodeCbor(frame, L.MAX_FRAME_BYTES);
  const id = peekId(value);
  try {
    const f = new Fields(value, 'frame');
    if (id === 0) throw new ProtocolError('BAD_REQUEST', 'frame.i must be a request id 1..2^32-1');
    const op = f.string('o', 16);
    if (!OPS.has(op)) throw new ProtocolError('BAD_REQUEST', `unknown operation '${op}'`);
    const a = new Fields(f.raw('a'), op);
    return { id, op, args: decodeArgs(op as Op, a) } as Request;
  } catch (err) {
    if (err instanceof ProtocolError) throw new RequestError(id, err);
    throw err;
  }
}

/** A bad request whose id is known (0 when it is not). */
export class RequestError extends ProtocolError {
  constructor(
    readonly id: number,
    cause: ProtocolError,
  ) {
    super(cause.code, cause.message);
  }
}

const si = (a: Fields) => asStorageIndex(a.bytes('si', L.STORAGE_INDEX_BYTES));
const sh = (a: Fields, name = 'sh') => asShareNum(a.uint(name, L.MAX_SHNUM));
const uploadSecret = (a: Fields) => a.bytes('upload', L.MIN_UPLOAD_SECRET_BYTES, L.MAX_UPLOAD_SECRET_BYTES);
const leaseSecret = (a: Fields, name: string) => a.bytes(name, L.LEASE_SECRET_BYTES);

function decodeArgs(op: Op, a: Fields): OpArgs[Op] {
  switch (op) {
    case 'hello':
      return { challenge: a.bytes('challenge', L.HANDSHAKE_CHALLENGE_BYTES) };
    case 'version':
      return {};
    case 'allocate': {
      const shares = a
        .array('shares', L.MAX_SHARES)
        .map((v) => asShareNum(checkUint(v, L.MAX_SHNUM, 'share')));
      if (new Set(shares).size !== shares.length)
        throw new ProtocolError('BAD_REQUEST', 'allocate.shares repeats a share');
      return {
        si: si(a),
        renew: leaseSecret(a, 'renew'),
        cancel: leaseSecret(a, 'cancel'),
        upload: uploadSecret(a),
        shares,
        size: a.uint('size', L.MAX_IMMUTABLE_SHARE_BYTES),
      };
    }
    case 'write':
      return {
        si: si(a),
        sh: sh(a),
        upload: uploadSecret(a),
        offset: a.uint('offset', L.MAX_OFFSET),
        data: a.bytes('data', 0, L.MAX_WRITE_BYTES),
        ...(a.has('close') && a.bool('close') ? { close: true } : {}),
      };
    case 'close':
    case 'abort':
      return { si: si(a), sh: sh(a), upload: uploadSecret(a) };
    case 'list':
    case 'mlist':
      return { si: si(a) };
    case 'read':
    case 'mread':
      return {
        si: si(a),
        sh: sh(a),
        offset: a.uint('offset', L.MAX_OFFSET),
        length: a.uint('length', L.MAX_READ_BYTES),
      };
    case 'mreadv':
      return {
        si: si(a),
        offset: a.uint('offset', L.MAX_OFFSET),
        length: a.uint('length', L.MAX_READV_BYTES),
      };
    case 'lease':
      return { si: si(a), renew: leaseSecret(a, 'renew'), cancel: leaseSecret(a, 'cancel') };
    case 'corrupt': {
      const kind = a.string('kind', 16);
      if (kind !== 'immutable' && kind !== 'mutable') {
        throw new ProtocolError('BAD_REQUEST', "corrupt.kind must be 'immutable' or 'mutable'");
      }
      return { kind, si: si(a), sh: sh(a), reason: a.string('reason', L.MAX_REASON_CHARS) };
    }
    case 'rtw':
      return decodeReadTestWrite(a);
    case 'put':
      return decodePut(a);
  }
}

/** A byte string of `min`..`max` bytes in a put, or BAD_REQUEST. */
function putBytes(v: unknown, min: number, max: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) {
    throw new ProtocolError(
      'BAD_REQUEST',
      `put ${what} must be ${min === max ? min : `${min}..${max}`} bytes`,
    );
  }
  return v;
}

function decodePut(a: Fields): PutArgs {
  const seen = new Set<string>();
  let count = 0;
  const files = a.array('f', L.MAX_PUT_SHARES).map((entry): PutFile => {
    const [siv, renew, cancel, upload, sizev, sharesv] = checkArray(entry, 6, 'put file');
    const si = asStorageIndex(putBytes(siv, L.STORAGE_INDEX_BYTES, L.STORAGE_INDEX_BYTES, 'storage index'));
    const key = toHex(si);
    if (seen.has(key)) throw new ProtocolError('BAD_REQUEST', 'put names a storage index twice');
    seen.add(key);
    const size = checkUint(sizev, L.MAX_WRITE_BYTES, 'put size');
    const shares = new Map<ShareNum, Uint8Array>();
    for (const s of checkArray(sharesv, L.MAX_SHARES, 'put shares')) {
      const [shv, data] = checkArray(s, 2, 'put share');
      const shnum = asShareNum(checkUint(shv, L.MAX_SHNUM, 'put share number'));
      if (shares.has(shnum)) throw new ProtocolError('BAD_REQUEST', 'put repeats a share of a file');
      shares.set(shnum, putBytes(data, 0, size, 'share data (at most the size)'));
    }
    count += shares.size;
    if (count > L.MAX_PUT_SHARES) {
      throw new ProtocolError('BAD_REQUEST', `put carries more than ${L.MAX_PUT_SHARES} shares`);
    }
    return {
      si,
      renew: putBytes(renew, L.LEASE_SECRET_BYTES, L.LEASE_SECRET_BYTES, 'renew secret'),
      cancel: putBytes(cancel, L.LEASE_SECRET_BYTES, L.LEASE_SECRET_BYTES, 'cancel secret'),
      upload: putBytes(upload, L.MIN_UPLOAD_SECRET_BYTES, L.MAX_UPLOAD_SECRET_BYTES, 'upload secret'),
      size,
      shares,
    };
  });
  return { files };
}

function decodeReadTestWrite(a: Fields): ReadTestWriteArgs {
  const testWrite = new Map<ShareNum, ShareTestWrite>();
  let vectors = 0;
  for (const entry of a.array('tw', L.MAX_SHARES)) {
    const [shv, tests, writes, newLength] = checkArray(entry, 4, 'rtw.tw entry');
    const shnum = asShareNum(checkUint(shv, L.MAX_SHNUM, 'rtw.tw share'));
    if (testWrite.has(shnum)) throw new ProtocolError('BAD_REQUEST', 'rtw.tw repeats a share');
    const test = checkArray(tests, L.MAX_VECTORS, 'rtw test vector').map((t) => {
      const [offset, size, specimen] = checkArray(t, 3, 'rtw test');
      const s = checkUint(size, L.MAX_READ_BYTES, 'rtw test size');
      if (!(specimen instanceof Uint8Array) || specimen.length > L.MAX_READ_BYTES) {
        throw new ProtocolError('BAD_REQUEST', 'rtw test specimen must be a byte string');
      }
      return { offset: checkUint(offset, L.MAX_OFFSET, 'rtw test offset'), size: s, specimen };
    });
    const write = checkArray(writes, L.MAX_VECTORS, 'rtw write vector').map((w) => {
      const [offset, data] = checkArray(w, 2, 'rtw write');
      if (!(data instanceof Uint8Array) || data.length > L.MAX_WRITE_BYTES) {
        throw new ProtocolError('BAD_REQUEST', 'rtw write data must be a byte string');
      }
      return { offset: checkUint(offset, L.MAX_MUTABLE_SHARE_BYTES, 'rtw write offset'), data };
    });
    vectors += test.length + write.length;
    if (vectors > L.MAX_VECTORS * 4) throw new ProtocolError('BAD_REQUEST', 'rtw has too many vectors');
    const nl = newLength === null ? null : checkUint(newLength, L.MAX_MUTABLE_SHARE_BYTES, 'rtw new length');
    testWrite.set(shnum, { test, write, newLength: nl });
  }
  const readVector = a.array('rv', L.MAX_VECTORS).map((v) => {
    const [offset, size] = checkArray(v, 2, 'rtw read');
    return {
      offset: checkUint(offset, L.MAX_OFFSET, 'rtw read offset'),
      size: checkUint(size, L.MAX_READ_BYTES, 'rtw read size'),
    };
  });
  return {
    si: si(a),
    writeEnabler: a.bytes('we', L.WRITE_ENABLER_BYTES),
    renew: leaseSecret(a, 'renew'),
    cancel: leaseSecret(a, 'cancel'),
    testWrite,
    readVector,
  };
}

// ---- replies ------------------------------------------------------------------------

export function encodeResult(id: number, result: unknown): Uint8Array {
  return encodeCbor({ i: id, r: result ?? null });
}

/**
 * The head of a reply whose result is `n` bytes: `{i: id, r: <bytes(n)>}` in CBOR, up to
 * the byte string's contents. A server lays the bytes right after it (read straight from
 * disk into the frame) instead of copying them through the encoder.
 */
export function encodeBytesResultHead(id: number, n: number): Uint8Array {
  // map(2), "i", uint id, "r", bytes(n) header
  return new Uint8Array([0xa2, 0x61, 0x69, ...cborHead(0, id), 0x61, 0x72, ...cborHead(2, n)]);
}

function cborHead(major: number, n: number): number[] {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 0xff];
  if (n < 0x100000000) return [m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  throw new RangeError('length too large for a frame');
}

export function encodeError(id: number, code: string, message: string): Uint8Array {
  return encodeCbor({ i: id, e: { c: code, m: message } });
}

export type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: StorageErrorCode; message: string };

const ERROR_CODES = new Set<string>([
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
const MAX_ERROR_MESSAGE = 1000;

/** Client side: decodes a reply frame. The result is checked by the caller, per operation. */
export function decodeReply(frame: Uint8Array): Reply {
  const value = decodeCbor(frame, L.MAX_FRAME_BYTES);
  const f = new Fields(value, 'reply');
  const id = f.uint('i', MAX_ID);
  if (f.has('e')) {
    const e = new Fields(f.raw('e'), 'reply.e');
    const c = e.string('c', 32);
    const m = e.string('m', 100_000).slice(0, MAX_ERROR_MESSAGE);
    return { id, ok: false, code: (ERROR_CODES.has(c) ? c : 'BAD_REQUEST') as StorageErrorCode, message: m };
  }
  if (!f.has('r')) throw new ProtocolError('BAD_FRAME', 'reply has neither a result nor an error');
  return { id, ok: true, result: f.raw('r') };
}

// ---- results, checked on the client -------------------------------------------------

export function shareList(v: unknown, what: string): ShareNum[] {
  const list = checkArray(v, L.MAX_SHARES, what).map((x) => asShareNum(checkUint(x, L.MAX_SHNUM, what)));
  return list;
}

/**
 * An allocate result on the wire: `{alreadyHave: [sh], allocated: [sh], have?: [[sh, [[start, end]…]]…]}`.
 * `have` is left out when empty (so a fresh allocation looks as it always did).
 */
export function encodeAllocateResult(r: AllocateResult): unknown {
  const have = [...(r.have ?? [])].filter(([, ranges]) => ranges.length > 0);
  return {
    alreadyHave: r.alreadyHave,
    allocated: r.allocated,
    ...(r.held ? { held: r.held } : {}),
    ...(have.length > 0
      ? { have: have.map(([sh, ranges]) => [sh, ranges.slice(0, L.MAX_HAVE_RANGES)]) }
      : {}),
  };
}

/**
 * Checks an allocate result against the request: only shares asked for, `have` only for
 * shares allocated, its ranges sorted, merged and within `size` (bytes a share may hold).
 */
export function decodeAllocateResult(v: unknown, asked: readonly ShareNum[], size: number): AllocateResult {
  const f = new Fields(v, 'allocate result');
  const result: AllocateResult = {
    alreadyHave: shareList(f.raw('alreadyHave'), 'alreadyHave'),
    allocated: shareList(f.raw('allocated'), 'allocated'),
  };
  const askedSet = new Set(asked);
  if (![...result.alreadyHave, ...result.allocated].every((n) => askedSet.has(n))) {
    throw new ProtocolError('BAD_FRAME', 'it names shares that were not asked for');
  }
  if (f.has('held')) result.held = shareList(f.raw('held'), 'held');
  if (f.has('have')) {
    const allocated = new Set(result.allocated);
    const have = new Map<ShareNum, Range[]>();
    for (const entry of f.array('have', L.MAX_SHARES)) {
      const [shv, rv] = checkArray(entry, 2, 'allocate have entry');
      const shnum = asShareNum(checkUint(shv, L.MAX_SHNUM, 'allocate have share'));
      if (!allocated.has(shnum) || have.has(shnum)) {
        throw new ProtocolError('BAD_FRAME', 'its have names a share it did not allocate, or one twice');
      }
      const ranges = checkArray(rv, L.MAX_HAVE_RANGES, 'allocate have ranges') as Range[];
      if (!isCanonical(ranges, size)) {
        throw new ProtocolError('BAD_FRAME', 'its have ranges are not sorted byte ranges within the share');
      }
      have.set(
        shnum,
        ranges.map(([s, e]) => [s, e]),
      );
    }
    result.have = have;
  }
  return result;
}

/** A put's results on the wire: per file `{alreadyHave, stored, held, refused?}`, in order. */
export function encodePutResults(results: readonly WholeSharesResult[]): unknown {
  return results.map((r) => ({
    alreadyHave: r.alreadyHave,
    stored: r.stored,
    held: r.held,
    ...(r.refused !== undefined ? { refused: r.refused } : {}),
  }));
}

/** Checks a put's results against the request: one per file, naming only shares asked for. */
export function decodePutResults(
  v: unknown,
  files: readonly { shares: Map<ShareNum, unknown> }[],
): WholeSharesResult[] {
  const list = checkArray(v, files.length, 'put results');
  if (list.length !== files.length)
    throw new ProtocolError('BAD_FRAME', 'it answers a different number of files');
  return list.map((entry, i) => {
    const f = new Fields(entry, 'put result');
    const r: WholeSharesResult = {
      alreadyHave: shareList(f.raw('alreadyHave'), 'alreadyHave'),
      stored: shareList(f.raw('stored'), 'stored'),
      held: shareList(f.raw('held'), 'held'),
    };
    const asked = files[i].shares;
    if (![...r.alreadyHave, ...r.stored].every((n) => asked.has(n))) {
      throw new ProtocolError('BAD_FRAME', 'it names shares that were not asked for');
    }
    if (f.has('refused')) r.refused = f.string('refused', MAX_ERROR_MESSAGE);
    return r;
  });
}

export function decodeReadTestWriteResult(v: unknown): {
  success: boolean;
  data: Map<ShareNum, Uint8Array[]>;
} {
  const f = new Fields(v, 'rtw result');
  const data = new Map<ShareNum, Uint8Array[]>();
  for (const entry of f.array('data', L.MAX_SHARES)) {
    const [shv, reads] = checkArray(entry, 2, 'rtw result entry');
    const shnum = asShareNum(checkUint(shv, L.MAX_SHNUM, 'rtw result share'));
    const list = checkArray(reads, L.MAX_VECTORS, 'rtw result reads').map((b) => {
      if (!(b instanceof Uint8Array)) throw new ProtocolError('BAD_FRAME', 'rtw result read must be bytes');
      return b;
    });
    data.set(shnum, list);
  }
  return { success: f.bool('success'), data };
}

/** An `mreadv` result on the wire: `[[sh, bytes]…]`, each share once. */
export function encodeReadvResult(data: Map<ShareNum, Uint8Array>): unknown {
  return [...data];
}

/** An `mreadv` result, checked: shares 0..255 each once, no range longer than asked. */
export function decodeReadvResult(v: unknown, length: number): Map<ShareNum, Uint8Array> {
  const data = new Map<ShareNum, Uint8Array>();
  for (const entry of checkArray(v, L.MAX_SHARES, 'mreadv result')) {
    const [shv, bytes] = checkArray(entry, 2, 'mreadv result entry');
    const shnum = asShareNum(checkUint(shv, L.MAX_SHNUM, 'mreadv result share'));
    if (!(bytes instanceof Uint8Array) || bytes.length > length) {
      throw new ProtocolError(
        'BAD_FRAME',
        `mreadv result for share ${shnum} must be at most ${length} bytes`,
      );
    }
    if (data.has(shnum)) throw new ProtocolError('BAD_FRAME', `mreadv result names share ${shnum} twice`);
    data.set(shnum, bytes);
  }
  return data;
}

export function encodeReadTestWriteResult(success: boolean, data: Map<ShareNum, Uint8Array[]>): unknown {
  return { success, data: [...data] };
}
