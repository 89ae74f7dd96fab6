/**
 * Segment jobs of the CHK pipeline in a module worker (comlink), with WebCrypto, hash-wasm
 * and the wasm codec. Results travel back as transferred buffers, never copied.
 */
import { expose, transfer } from 'comlink';
import { loadCodec } from '../../core/codec/index.ts';
import {
  type DecodedSegment,
  decodeSegment,
  type EncodedSegment,
  encodeSegment,
  type SegmentDecodeJob,
  type SegmentEncodeJob,
} from '../../core/immutable/segment.ts';
import { webCrypto } from '../../core/primitives/crypto-web.ts';

const codec = loadCodec();

/** Each distinct ArrayBuffer once (a transfer list may not repeat one). */
export function buffersOf(arrays: Uint8Array[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

const api = {
  async init(): Promise<string> {
    return (await codec).variant;
  },
  async encode(job: SegmentEncodeJob): Promise<EncodedSegment> {
    const r = await encodeSegment(job, webCrypto, await codec);
    return transfer(r, buffersOf([r.ciphertext, ...r.blocks]));
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
  async decode(job: SegmentDecodeJob): Promise<DecodedSegment> {
    const r = await decodeSegment(job, webCrypto, await codec);
    return r.ok ? transfer(r, [r.plaintext.buffer as ArrayBuffer]) : r;
  },
};

export type ChkWorkerApi = typeof api;

expose(api);
