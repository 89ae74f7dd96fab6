/** Frame encoding and the DoS-minded decoder: every malformed frame is a typed error, never a crash. */
import { encode } from 'cborg';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../core/protocol/errors.ts';
import {
  decodeAllocateResult,
  decodeReadTestWriteResult,
  decodeReadvResult,
  encodeReadvResult,
  encodeAllocateResult,
  decodeReply,
  decodeRequest,
  encodeBytesResultHead,
  encodeError,
  encodeReadTestWriteResult,
  encodeRequest,
  encodeResult,
  type RequestError,
} from '../../core/protocol/frames.ts';
import * as L from '../../core/protocol/limits.ts';
import { decodeEnvelope, EnvelopeKind, encodeEnvelope } from '../../core/protocol/relay-envelope.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import { expectBytesEqual } from '../harness/bytes.ts';

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
const si = asStorageIndex(bytes(16, 1));

function badRequest(frame: Uint8Array): RequestError {
  try {
    decodeRequest(frame);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as RequestError;
  }
  throw new Error('decodeRequest accepted a bad frame');
}

describe('requests', () => {
  it('round-trip every operation', () => {
    const upload = bytes(20);
    const cases = [
      ['hello', { challenge: bytes(32) }],
      ['version', {}],
      ['allocate', { si, renew: bytes(32), cancel: bytes(32), upload, shares: [0, 5, 255], size: 1234 }],
      ['write', { si, sh: 3, upload, offset: 99, data: bytes(1000) }],
      ['write', { si, sh: 3, upload, offset: 0, data: bytes(10), close: true }],
      ['close', { si, sh: 3, upload }],
      ['abort', { si, sh: 3, upload }],
      ['list', { si }],
      ['read', { si, sh: 0, offset: 5, length: 10 }],
      ['lease', { si, renew: bytes(32), cancel: bytes(32) }],
      ['corrupt', { kind: 'mutable', si, sh: 1, reason: 'bad hash' }],
      ['mlist', { si }],
      ['mread', { si, sh: 0, offset: 0, length: 0 }],
      ['mreadv', { si, offset: 7, length: 4096 }],
    ] as const;
    let id = 1;
    for (const [op, args] of cases) {
      const req = decodeRequest(encodeRequest(id, op, args as never));
      expect(req).toEqual({ id, op, args });
      id++;
    }
  });

  it('round-trips read-test-write vectors', () => {
    const testWrite = new Map([
      [
        asShareNum(2),
        {
          test: [{ offset: 0, size: 3, specimen: bytes(3) }],
          write: [{ offset: 10, data: bytes(5) }],
          newLength: null,
        },
      ],
      [asShareNum(0), { test: [], write: [], newLength: 0 }],
    ]);
    const args = {
      si,
      writeEnabler: bytes(32),
      renew: bytes(32),
      cancel: bytes(32),
      testWrite,
      readVector: [{ offset: 1, size: 2 }],
    };
    const req = decodeRequest(encodeRequest(7, 'rtw', args));
    expect(req).toEqual({ id: 7, op: 'rtw', args });
    const result = new Map([[asShareNum(1), [bytes(2), bytes(0)]]]);
    const reply = decodeReply(encodeResult(7, encodeReadTestWriteResult(true, result)));
    expect(reply.ok && decodeReadTestWriteResult(reply.result)).toEqual({ success: true, data: result });
  });

  it('names the request id in errors about its arguments', () => {
    const err = badRequest(
      encodeRequest(42, 'read', { si: asStorageIndex(bytes(15)), sh: 0, offset: 0, length: 1 } as never),
    );
    expect(err.id).toBe(42);
    expect(err.message).toMatch(/read\.si must be 16 bytes/);
    expect(badRequest(encode({ i: 9, o: 'nope', a: {} })).message).toMatch(/unknown operation/);
    expect(badRequest(encode({ i: 9, o: 'read', a: { si, sh: 256, offset: 0, length: 1 } })).message).toMatch(
      /at most 255/,
    );
    expect(badRequest(encode({ i: 9, o: 'read', a: { si, sh: -1, offset: 0, length: 1 } })).message).toMatch(
      /whole number/,
    );
    expect(badRequest(encode({ i: 9, o: 'read', a: { si, sh: 1.5, offset: 0, length: 1 } })).message).toMatch(
      /whole number/,
    );
    expect(
      badRequest(encode({ i: 9, o: 'read', a: { si, sh: 0, offset: 0, length: L.MAX_READ_BYTES + 1 } }))
        .message,
    ).toMatch(/at most/);
    expect(
      badRequest(
        encode({
          i: 9,
          o: 'allocate',
          a: { si, renew: bytes(32), cancel: bytes(32), upload: bytes(20), shares: [1, 1], size: 1 },
        }),
      ).message,
    ).toMatch(/repeats/);
    expect(
      badRequest(encode({ i: 9, o: 'write', a: { si, sh: 0, upload: bytes(20), offset: 0, data: 'text' } }))
        .message,
    ).toMatch(/byte string/);
    expect(
      badRequest(
        encode({
          i: 9,
          o: 'write',
          a: { si, sh: 0, upload: bytes(20), offset: 0, data: bytes(1), close: 1 },
        }),
      ).message,
    ).toMatch(/true or false/);
    // close: false is a plain write.
    const plain = decodeRequest(
      encode({
        i: 9,
        o: 'write',
        a: { si, sh: 0, upload: bytes(20), offset: 0, data: bytes(1), close: false },
      }),
    );
    expect(plain.op === 'write' && plain.args.close).toBe(undefined);
  });

  it('mreadv: asks at most MAX_READV_BYTES; its result names shares once, none longer than asked', () => {
    const ask = (length: number) => decodeRequest(encodeRequest(1, 'mreadv', { si, offset: 0, length }));
    expect(ask(L.MAX_READV_BYTES).args).toEqual({ si, offset: 0, length: L.MAX_READV_BYTES });
    expect(() => ask(L.MAX_READV_BYTES + 1)).toThrow(ProtocolError);
    const data = new Map([
      [asShareNum(0), bytes(10)],
      [asShareNum(255), bytes(0)],
    ]);
    expect(decodeReadvResult(encodeReadvResult(data), 10)).toEqual(data);
    expect(() => decodeReadvResult(encodeReadvResult(data), 9)).toThrow(/at most 9 bytes/);
    expect(() =>
      decodeReadvResult(
        [
          [1, bytes(1)],
          [1, bytes(1)],
        ],
        4,
      ),
    ).toThrow(/twice/);
    expect(() => decodeReadvResult([[256, bytes(1)]], 4)).toThrow(ProtocolError);
    expect(() => decodeReadvResult([[1, 'x']], 4)).toThrow(ProtocolError);
    expect(() => decodeReadvResult({ 0: bytes(1) }, 4)).toThrow(ProtocolError);
  });

  it('rejects frames without a usable id with id 0', () => {
    expect(badRequest(encode({ o: 'version', a: {} })).id).toBe(0);
    expect(badRequest(encode({ i: 0, o: 'version', a: {} })).id).toBe(0);
    expect(badRequest(encode([1, 2, 3])).id).toBe(0);
    expect(badRequest(encode('hello')).id).toBe(0);
  });

  it('rejects truncated, garbage, oversized, nested and duplicate-key frames', () => {
    const good = encodeRequest(1, 'write', {
      si,
      sh: asShareNum(0),
      upload: bytes(20),
      offset: 0,
      data: bytes(100),
    });
    for (let cut = 0; cut < good.length; cut += 7) {
      expect(() => decodeRequest(good.subarray(0, cut))).toThrow(ProtocolError);
    }
    expect(() => decodeRequest(new Uint8Array([0xff, 0x00, 0x13]))).toThrow(/well-formed|frame/);
    expect(() => decodeRequest(new Uint8Array(L.MAX_FRAME_BYTES + 1))).toThrow(/exceeds the limit/);
    // A byte string claiming 4 GiB in a 5-byte frame.
    expect(() => decodeRequest(new Uint8Array([0x5a, 0xff, 0xff, 0xff, 0xff]))).toThrow(ProtocolError);
    // 100k nested arrays: the decoder's stack overflow becomes a typed error.
    expect(() => decodeRequest(new Uint8Array(100_000).fill(0x81))).toThrow(ProtocolError);
    // {"i":1,"i":2}
    expect(() => decodeRequest(new Uint8Array([0xa2, 0x61, 0x69, 0x01, 0x61, 0x69, 0x02]))).toThrow(
      ProtocolError,
    );
    // Indefinite-length map.
    expect(() => decodeRequest(new Uint8Array([0xbf, 0xff]))).toThrow(ProtocolError);
  });
});

describe('replies', () => {
  it('a hand-laid bytes result decodes like an encoded one', () => {
    for (const [id, n] of [
      [1, 0],
      [23, 23],
      [24, 24],
      [255, 256],
      [65_535, 65_536],
      [2 ** 32 - 1, 1_048_576],
    ]) {
      const data = bytes(n, 9);
      const head = encodeBytesResultHead(id, n);
      const frame = new Uint8Array(head.length + n);
      frame.set(head);
      frame.set(data, head.length);
      expectBytesEqual(frame, encodeResult(id, data));
      const r = decodeReply(frame);
      expect(r.id).toBe(id);
      expectBytesEqual(r.ok ? (r.result as Uint8Array) : new Uint8Array(1), data);
    }
  });

  it('carry results and typed errors', () => {
    expect(decodeReply(encodeResult(3, [1, 2]))).toEqual({ id: 3, ok: true, result: [1, 2] });
    expect(decodeReply(encodeResult(4, null))).toEqual({ id: 4, ok: true, result: null });
    expect(decodeReply(encodeError(5, 'CONFLICT', 'differs'))).toEqual({
      id: 5,
      ok: false,
      code: 'CONFLICT',
      message: 'differs',
    });
    // Unknown codes from a server become BAD_REQUEST; long messages are cut.
    const r = decodeReply(encodeError(6, 'WEIRD', 'x'.repeat(5000)));
    expect(r.ok === false && r.code).toBe('BAD_REQUEST');
    expect(r.ok === false && r.message.length).toBe(1000);
    expect(() => decodeReply(encode({ i: 1 }))).toThrow(ProtocolError);
  });
});

describe('allocate results', () => {
  const sh = asShareNum;
  it('round-trip `have`, leave it out when empty, and still read results without it', () => {
    const r = {
      alreadyHave: [sh(1)],
      allocated: [sh(2), sh(3)],
      have: new Map([[sh(2), [[0, 10] as [number, number]]]]),
    };
    const wire = encodeAllocateResult(r);
    expect(decodeAllocateResult(wire, [sh(1), sh(2), sh(3)], 100)).toEqual(r);
    const bare = encodeAllocateResult({ alreadyHave: [], allocated: [sh(2)], have: new Map([[sh(2), []]]) });
    expect(bare).toEqual({ alreadyHave: [], allocated: [2] });
    expect(decodeAllocateResult({ alreadyHave: [], allocated: [2] }, [sh(2)], 100)).toEqual({
      alreadyHave: [],
      allocated: [2],
    });
    // At most MAX_HAVE_RANGES ranges per share go out (the first ones).
    const many = Array.from({ length: 100 }, (_, i): [number, number] => [i * 10, i * 10 + 5]);
    const cut = encodeAllocateResult({ alreadyHave: [], allocated: [sh(0)], have: new Map([[sh(0), many]]) });
    const back = decodeAllocateResult(cut, [sh(0)], 10_000);
    expect(back.have?.get(sh(0))).toEqual(many.slice(0, L.MAX_HAVE_RANGES));
  });

  it('refuse a `have` that is not about allocated shares or not sorted ranges within the share', () => {
    const base = { alreadyHave: [1], allocated: [2] };
    for (const have of [
      [[1, [[0, 5]]]], // not allocated (held whole)
      [[4, [[0, 5]]]], // not asked for
      [
        [2, [[0, 5]]],
        [2, [[6, 7]]],
      ], // twice
      [[2, [[5, 5]]]], // empty
      [[2, [[0, 101]]]], // past the share's size
      [
        [
          2,
          [
            [6, 9],
            [0, 5],
          ],
        ],
      ], // out of order
      [
        [
          2,
          [
            [0, 5],
            [5, 9],
          ],
        ],
      ], // touching: not merged
      [[2, [[0, 1.5]]]],
      [[2, [[-1, 3]]]],
      [[2, [[0, 3, 4]]]],
      [[2, Array.from({ length: L.MAX_HAVE_RANGES + 1 }, (_, i) => [i * 2, i * 2 + 1])]],
      'x',
    ]) {
      expect(
        () => decodeAllocateResult({ ...base, have }, [sh(1), sh(2), sh(3)], 100),
        JSON.stringify(have),
      ).toThrow(ProtocolError);
    }
  });
});

describe('relay envelopes', () => {
  it('round-trip and reject truncated or unknown ones', () => {
    const e = decodeEnvelope(encodeEnvelope(EnvelopeKind.Data, 0xfffffffe, bytes(3)));
    expect(e).toEqual({ kind: EnvelopeKind.Data, channel: 0xfffffffe, payload: bytes(3) });
    expect(() => decodeEnvelope(new Uint8Array(4))).toThrow(ProtocolError);
    expect(() => decodeEnvelope(new Uint8Array([9, 0, 0, 0, 1]))).toThrow(/unknown relay envelope kind/);
  });
});
