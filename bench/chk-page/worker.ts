/**
 * Segment jobs of the CHK pipeline in a module worker (comlink), with WebCrypto, hash-wasm
 * and the wasm codec, as the web app's segment worker runs them (the same job functions, so
 * the bench drives them with the app's pooledRunner). Results travel back transferred.
 */
import { expose } from 'comlink';
import { loadCodec } from '../../core/codec/index.ts';
import {
  decodeBuffers,
  encodeSegment,
  type SegmentDecodeJob,
  type SegmentEncodeJob,
} from '../../core/immutable/segment.ts';
import { webCrypto } from '../../core/primitives/crypto-web.ts';
import type { AesKey } from '../../core/types.ts';
import { decodeJobs, encodeJobs } from '../../web/workers/segment-jobs.ts';

const codec = loadCodec();
const ciphertexts = decodeBuffers();

const api = {
  async init(): Promise<string> {
    return (await codec).variant;
  },
  // As the web app's segment worker (web/workers/segment-jobs.ts): buffers travel back.
  async encode(jobs: SegmentEncodeJob[]) {
    return encodeJobs(jobs, webCrypto, await codec);
  },
  /**
   * Keeps `inflight` WebCrypto calls going until `total` bytes went through: SHA-256 over
   * `size`-byte blocks or AES-CTR over `size`-byte chunks. Milliseconds taken.
   */
  async cryptoLoad(op: 'sha' | 'aes', total: number, size: number, inflight: number): Promise<number> {
    const key = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-CTR', false, ['encrypt']);
    const algo = { name: 'AES-CTR', counter: new Uint8Array(16), length: 128 };
    const bufs = Array.from({ length: inflight }, () => {
      const b = new Uint8Array(size);
      crypto.getRandomValues(b.subarray(0, Math.min(size, 65536)));
      return b;
    });
    let done = 0;
    const t = performance.now();
    await Promise.all(
      bufs.map(async (b) => {
        while (done < total) {
          done += size;
          await (op === 'sha' ? crypto.subtle.digest('SHA-256', b) : crypto.subtle.encrypt(algo, key, b));
        }
      }),
    );
    return performance.now() - t;
  },
  /**
   * RS alone over `total` bytes of ciphertext in `segment`-byte segments, as the segment jobs
   * call it (encodeInto / decodeInto into reused blocks; decode from the last k shares, all
   * parity: the worst case). Milliseconds taken.
   */
  async codecLoad(
    op: 'encode' | 'decode',
    k: number,
    n: number,
    total: number,
    segment: number,
  ): Promise<number> {
    const c = await codec;
    const b = Math.ceil(segment / k);
    const blocks = Array.from({ length: n }, () => new Uint8Array(b));
    for (const x of blocks.slice(0, k)) crypto.getRandomValues(x.subarray(0, Math.min(b, 65536)));
    c.encodeInto(k, n, blocks.slice(0, k), blocks.slice(k));
    const worst = Array.from({ length: k }, (_, i) => n - k + i);
    const out = Array.from({ length: k }, () => new Uint8Array(b));
    const t = performance.now();
    for (let done = 0; done < total; done += segment) {
      if (op === 'encode') c.encodeInto(k, n, blocks.slice(0, k), blocks.slice(k));
      else
        c.decodeInto(
          k,
          n,
          worst.map((s) => blocks[s]),
          worst,
          out,
        );
    }
    return performance.now() - t;
  },
  /**
   * The whole-file hash as the app streams it (the default web backend's createHasher),
   * `total` bytes in `chunk`-byte updates: a sequential pass, one thread. Milliseconds taken.
   */
  async streamedHashLoad(total: number, chunk: number): Promise<number> {
    const data = new Uint8Array(chunk);
    crypto.getRandomValues(data.subarray(0, Math.min(chunk, 65536)));
    const t = performance.now();
    const h = await webCrypto.createHasher(new Uint8Array(0));
    for (let done = 0; done < total; done += chunk) h.update(data);
    await h.digest();
    return performance.now() - t;
  },
  /**
   * Encodes `count` segments of `size` bytes here, `depth` at a time, blocks' memory reused:
   * what one worker can do with no coordinator. Milliseconds taken.
   */
  async encodeLoop(count: number, size: number, depth: number): Promise<number> {
    const c = await codec;
    const key = new Uint8Array(16) as AesKey;
    const plain = Array.from({ length: depth }, () => new Uint8Array(size));
    for (const p of plain) crypto.getRandomValues(p.subarray(0, 65536));
    const spare: Uint8Array[] = [];
    let next = 0;
    const t = performance.now();
    await Promise.all(
      plain.map(async (p) => {
        while (next < count) {
          const s = next++;
          const r = await encodeSegment(
            { k: 3, n: 10, key, offset: s * size, plaintext: p, scratch: spare.pop() },
            webCrypto,
            c,
          );
          spare.push(new Uint8Array(r.blocks[0].buffer));
        }
      }),
    );
    return performance.now() - t;
  },
  async decode(jobs: SegmentDecodeJob[], input: ArrayBuffer) {
    return decodeJobs(jobs, input, webCrypto, await codec, ciphertexts);
  },
};

export type ChkWorkerApi = typeof api;

expose(api);
