/**
 * The web app's segment runner across a real message boundary (comlink over a
 * MessageChannel, so buffers are really transferred and detached): results equal the
 * local encoder's, a caller's buffers are never detached behind its back, and the memory
 * it hands back (released blocks, plaintext) is used again.
 */
import { expose, type Remote, wrap } from 'comlink';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import type { ChkCap } from '../../core/caps/immutable.ts';
import { readChk } from '../../core/immutable/decoder.ts';
import { type EncodeTools, encodeChk } from '../../core/immutable/encoder.ts';
import { encodeToShares, memoryShareReader } from '../../core/immutable/memory.ts';
import { DEFAULT_CHK_PARAMS } from '../../core/immutable/params.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import {
  ciphertextPieces,
  decodeBuffers,
  encodeSegment,
  type SegmentDecodeJob,
} from '../../core/immutable/segment.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { asAesKey } from '../../core/types.ts';
import { decodeJobs, encodeJobs } from '../../web/workers/segment-jobs.ts';
import { WorkerPool } from '../../web/workers/pool.ts';
import { pooledRunner, type SegmentWorkerLike } from '../../web/workers/segment-runner.ts';
import { concatBytes } from '../../core/primitives/bytes.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';

let codec: Codec;
let channel: MessageChannel;
let remote: Remote<SegmentWorkerLike>;

const ciphertexts = decodeBuffers();

beforeAll(async () => {
  codec = await loadCodec();
  channel = new MessageChannel();
  const api: SegmentWorkerLike = {
    encode: (jobs) => encodeJobs(jobs, nodeCrypto, codec),
    // As the segment worker: one pool lends every decode its ciphertext memory.
    decode: (jobs, input) => decodeJobs(jobs, input, nodeCrypto, codec, ciphertexts),
  };
  expose(api, channel.port1 as never);
  remote = wrap<SegmentWorkerLike>(channel.port2 as never);
});
afterAll(() => {
  channel.port1.close();
  channel.port2.close();
});

const runner = () => pooledRunner({ size: 1, run: (task) => task(remote) });
const key = asAesKey(pattern(16, 3));
const k = 3;
const n = 10;

test('encodes as the local encoder does; views are copied, whole buffers transferred and reused', async () => {
  const r = runner();
  const file = pattern(300_000, 7);
  // A view into a larger buffer: must not be detached.
  const view = file.subarray(1000, 1000 + 131_072);
  const want = await encodeSegment({ k, n, key, offset: 1000, plaintext: view.slice() }, nodeCrypto, codec);
  const got = await r.encode({ k, n, key, offset: 1000, plaintext: view });
  expect(file.byteLength).toBe(300_000);
  expect(got.ciphertextLength).toBe(131_072);
  expectBytesEqual(concatBytes(...ciphertextPieces(got, k)), concatBytes(...ciphertextPieces(want, k)));
  expectBytesEqual(concatBytes(...got.blocks), concatBytes(...want.blocks), 'the blocks');
  expect(got.blockHashes).toEqual(want.blockHashes);
  expect(got.crypttextLeaf).toEqual(want.crypttextLeaf);

  // An owned plaintext travels (detached here) and comes back as the next read buffer.
  const owned = file.slice(131_072, 262_144);
  const copy = owned.slice();
  const second = await r.encode({ k, n, key, offset: 131_072, plaintext: owned });
  expect(owned.byteLength).toBe(0);
  // Both plaintexts (the view's copy, then this one) are back: the same memory, still
  // holding what was read into it; after them, fresh zeroed buffers.
  expect(r.readBuffer(131_072)).toEqual(view);
  expect(r.readBuffer(131_072)).toEqual(copy);
  expect(r.readBuffer(131_072)).toEqual(new Uint8Array(131_072));

  // Released blocks go back to a worker with the next job and are filled again there.
  const blocksBuffer = second.blocks[0].buffer;
  r.release?.(second);
  const third = await r.encode({ k, n, key, offset: 131_072, plaintext: copy.slice() });
  expect(blocksBuffer.byteLength).toBe(0);
  const thirdWant = await encodeSegment({ k, n, key, offset: 131_072, plaintext: copy }, nodeCrypto, codec);
  expectBytesEqual(concatBytes(...third.blocks), concatBytes(...thirdWant.blocks), 'the blocks');
});

test('decode leaves the caller its blocks, so it can try again without a bad one', async () => {
  const r = runner();
  const plaintext = pattern(131_072, 11);
  const seg = await encodeSegment({ k, n, key, offset: 0, plaintext: plaintext.slice() }, nodeCrypto, codec);
  const leaves = seg.blockHashes;
  // Whole-buffer blocks (as a network read gives them), one of them corrupt.
  const blocks = [0, 1, 2, 3].map((i) => seg.blocks[i].slice());
  blocks[1][5] ^= 1;
  const job = (shnums: number[]): SegmentDecodeJob => ({
    k,
    n,
    key,
    offset: 0,
    length: plaintext.length,
    blocks: shnums.map((s) => blocks[s]),
    shnums,
    blockLeaves: shnums.map((s) => leaves[s]),
    crypttextLeaf: seg.crypttextLeaf,
  });
  const bad = await r.decode(job([0, 1, 2]));
  expect(bad).toEqual({ ok: false, badBlocks: [1] });
  for (const b of blocks) expect(b.byteLength).toBe(seg.blocks[0].length);
  const good = await r.decode(job([0, 2, 3]));
  expect(good.ok).toBe(true);
  if (good.ok) expectBytesEqual(good.plaintext, plaintext, 'the plaintext');
});

test('decodes one after another through the worker ciphertext pool: each plaintext keeps its bytes', async () => {
  const r = runner();
  const size = 131_072;
  const file = pattern(4 * size, 13);
  const segs = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      encodeSegment(
        { k, n, key, offset: i * size, plaintext: file.slice(i * size, (i + 1) * size) },
        nodeCrypto,
        codec,
      ),
    ),
  );
  const shnums = [7, 8, 9];
  // Two at a time, as a download keeps segments in flight.
  const out: Uint8Array[] = [];
  for (let i = 0; i < 4; i += 2) {
    const got = await Promise.all(
      [i, i + 1].map((s) =>
        r.decode({
          k,
          n,
          key,
          offset: s * size,
          length: size,
          blocks: shnums.map((sh) => segs[s].blocks[sh].slice()),
          shnums,
          blockLeaves: shnums.map((sh) => segs[s].blockHashes[sh]),
          crypttextLeaf: segs[s].crypttextLeaf,
        }),
      ),
    );
    for (const g of got) out.push(g.ok ? g.plaintext : new Uint8Array(0));
  }
  for (let s = 0; s < 4; s++)
    expectBytesEqual(out[s], file.subarray(s * size, (s + 1) * size), `segment ${s}`);
  // Each decode gave its ciphertext's memory back and the later ones took it again: the
  // pool holds at most what two decodes at once needed, not one buffer per segment.
  expect(ciphertexts.heldBytes).toBeGreaterThan(0);
  expect(ciphertexts.heldBytes).toBeLessThanOrEqual(2 * size);
});

test('decodes go several to a message once the worker is busy, each with its own result', async () => {
  // A worker over a real message boundary that notes how many jobs each message carried.
  const ch = new MessageChannel();
  const carried: number[] = [];
  const api: SegmentWorkerLike = {
    encode: (jobs) => encodeJobs(jobs, nodeCrypto, codec),
    decode: (jobs, input) => {
      carried.push(jobs.length);
      return decodeJobs(jobs, input, nodeCrypto, codec, decodeBuffers());
    },
  };
  expose(api, ch.port1 as never);
  const w = wrap<SegmentWorkerLike>(ch.port2 as never);
  try {
    const r = pooledRunner({ size: 1, run: (task) => task(w) }, { messagesPerWorker: 1, jobsPerMessage: 4 });
    expect(r.decodeDepth).toBe(8); // one message of four in flight, four more waiting
    const size = 131_072;
    const file = pattern(6 * size, 29);
    const shnums = [7, 8, 9];
    const jobs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (s): Promise<SegmentDecodeJob> => {
        const seg = await encodeSegment(
          { k, n, key, offset: s * size, plaintext: file.slice(s * size, (s + 1) * size) },
          nodeCrypto,
          codec,
        );
        const blocks = shnums.map((sh) => seg.blocks[sh].slice());
        if (s === 3) blocks[1][100] ^= 1; // one bad block, in a segment that travels with others
        return {
          k,
          n,
          key,
          offset: s * size,
          length: size,
          blocks,
          shnums,
          blockLeaves: shnums.map((sh) => seg.blockHashes[sh]),
          crypttextLeaf: seg.crypttextLeaf,
        };
      }),
    );
    const got = await Promise.all(jobs.map((j) => r.decode(j)));
    // The first found the worker free and went alone; the rest waited and went four, then one.
    expect(carried).toEqual([1, 4, 1]);
    for (let s = 0; s < 6; s++) {
      const g = got[s];
      if (s === 3) expect(g).toEqual({ ok: false, badBlocks: [1] });
      else {
        expect(g.ok, `segment ${s}`).toBe(true);
        if (g.ok) expectBytesEqual(g.plaintext, file.subarray(s * size, (s + 1) * size), `segment ${s}`);
      }
    }
    // The caller keeps its blocks (the decoder tries again without the bad one).
    for (const j of jobs) for (const b of j.blocks) expect(b.byteLength).toBe(b.length);
    expect(jobs[3].blocks[0].byteLength).toBeGreaterThan(0);

    // A whole download through it, from parity shares only: the file's bytes, in order.
    const whole = pattern(40 * size + 777, 31);
    const { cap, shares } = await encodeToShares(bytesSource(whole), DEFAULT_CHK_PARAMS, key, {
      backend: nodeCrypto,
      codec,
    });
    carried.length = 0;
    const reader = memoryShareReader(new Map([7, 8, 9].map((s) => [s, shares[s]])));
    const back = await readChk(cap as ChkCap, reader, { backend: nodeCrypto, codec, runner: r });
    expectBytesEqual(back, whole, 'the file');
    // Every segment decoded once, four to a message once under way (1, 4, 4, ... here; a
    // message a segment would be 41).
    expect(carried.reduce((a, b) => a + b, 0)).toBe(41);
    expect(carried.length).toBeLessThanOrEqual(15);
    expect(Math.max(...carried)).toBe(4);
  } finally {
    ch.port1.close();
    ch.port2.close();
  }
});

test('encodes go two to a message once the worker is busy, and encode the same', async () => {
  const ch = new MessageChannel();
  const carried: number[] = [];
  const api: SegmentWorkerLike = {
    encode: (jobs) => {
      carried.push(jobs.length);
      return encodeJobs(jobs, nodeCrypto, codec);
    },
    decode: (jobs, input) => decodeJobs(jobs, input, nodeCrypto, codec, decodeBuffers()),
  };
  expose(api, ch.port1 as never);
  const w = wrap<SegmentWorkerLike>(ch.port2 as never);
  try {
    const r = pooledRunner({ size: 1, run: (task) => task(w) }, { messagesPerWorker: 1 });
    expect(r.encodeDepth).toBe(4); // one message of two in flight, two more waiting
    const file = pattern(20 * 131_073 + 11, 37);
    const encode = async (tools: EncodeTools) => {
      const bytes: Uint8Array[] = [];
      let cap: unknown;
      for await (const step of encodeChk(bytesSource(file), DEFAULT_CHK_PARAMS, key, tools)) {
        for (const wr of step.writes) bytes.push(wr.data.slice());
        if (step.kind === 'segment') step.release();
        if (step.kind === 'done') cap = step.cap;
      }
      return { bytes: concatBytes(...bytes), cap };
    };
    const batched = await encode({ backend: nodeCrypto, codec, runner: r });
    const local = await encode({ backend: nodeCrypto, codec });
    expect(batched.cap).toEqual(local.cap);
    expectBytesEqual(batched.bytes, local.bytes, 'the writes');
    // 21 segments: the first alone (the worker was free), then two to a message.
    expect(carried.reduce((a, b) => a + b, 0)).toBe(21);
    expect(carried[0]).toBe(1);
    expect(Math.max(...carried)).toBe(2);
    expect(carried.length).toBeLessThanOrEqual(12);
  } finally {
    ch.port1.close();
    ch.port2.close();
  }
});

test('the encoder stops offering read memory once the runner takes it, and encodes the same', async () => {
  const file = pattern(20 * 131_072 + 5, 17);
  const offered: boolean[] = [];
  // Reads into the memory offered, as a File source does; the runner then transfers it.
  const source = {
    size: file.length,
    async read(offset: number, length: number, into?: Uint8Array) {
      offered.push(into !== undefined && into.length >= length);
      const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
      out.set(file.subarray(offset, offset + length));
      return out;
    },
  };
  const encode = async (tools: EncodeTools) => {
    const writes: Array<[number, number, number]> = [];
    const bytes: Uint8Array[] = [];
    let cap: unknown;
    for await (const step of encodeChk(source, DEFAULT_CHK_PARAMS, key, tools)) {
      for (const w of step.writes) {
        writes.push([w.shnum, w.offset, w.data.length]);
        bytes.push(w.data.slice());
      }
      if (step.kind === 'segment') step.release();
      if (step.kind === 'done') cap = step.cap;
    }
    return { writes, bytes: concatBytes(...bytes), cap };
  };
  const r = runner();
  const viaWorker = await encode({ backend: nodeCrypto, codec, runner: r });
  // Only the first segments, started before any came back, were offered memory.
  expect(r.encodeDepth).toBe(6); // one message of two in flight, two waiting, two more
  expect(offered.filter(Boolean).length).toBeLessThanOrEqual(6);
  expect(offered.length).toBe(20); // segments of 131,073 bytes (a multiple of k)
  const local = await encode({ backend: nodeCrypto, codec });
  expect(viaWorker.cap).toEqual(local.cap);
  expect(viaWorker.writes).toEqual(local.writes);
  expectBytesEqual(viaWorker.bytes, local.bytes, 'the writes');
});

test('encodes the same through a pool whose workers are replaced every few segments', async () => {
  let made = 0;
  let ended = 0;
  let messages = 0;
  const pool = new WorkerPool<SegmentWorkerLike>(
    () => {
      made++;
      const ch = new MessageChannel();
      const api: SegmentWorkerLike = {
        encode: (jobs) => {
          messages++;
          return encodeJobs(jobs, nodeCrypto, codec);
        },
        decode: (jobs, input) => decodeJobs(jobs, input, nodeCrypto, codec, decodeBuffers()),
      };
      expose(api, ch.port1 as never);
      return Object.assign(ch.port2, {
        terminate() {
          ended++;
          ch.port1.close();
          ch.port2.close();
        },
      }) as unknown as Worker;
    },
    { size: 2, retireAfter: 3 },
  );
  const file = pattern(20 * 131_073, 23);
  const encode = async (tools: EncodeTools) => {
    const writes: Array<[number, number, number]> = [];
    const bytes: Uint8Array[] = [];
    let cap: unknown;
    for await (const step of encodeChk(bytesSource(file), DEFAULT_CHK_PARAMS, key, tools)) {
      for (const w of step.writes) {
        writes.push([w.shnum, w.offset, w.data.length]);
        bytes.push(w.data.slice());
      }
      if (step.kind === 'segment') step.release();
      if (step.kind === 'done') cap = step.cap;
    }
    return { writes, bytes: concatBytes(...bytes), cap };
  };
  const pooled = await encode({ backend: nodeCrypto, codec, runner: pooledRunner(pool) });
  const local = await encode({ backend: nodeCrypto, codec });
  expect(pooled.writes).toEqual(local.writes);
  expect(pooled.cap).toEqual(local.cap);
  expectBytesEqual(pooled.bytes, local.bytes, 'the writes');
  // 20 segments, at most 2 a message: 10 messages or more. A message counts its jobs, so a
  // worker takes messages until it has 3 segments' worth: 4 at most, hence 5 workers or more.
  expect(messages).toBeGreaterThanOrEqual(10);
  expect(made).toBeGreaterThanOrEqual(5);
  expect(ended).toBe(made - pool.running);
  pool.terminate();
});
