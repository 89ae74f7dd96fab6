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
import type { CryptoBackend } from '../../core/primitives/crypto-backend.ts';
import { webCrypto as streaming, webCryptoBackend } from '../../core/primitives/crypto-web.ts';

const codec = loadCodec();
// The web app's backend unless the page asks for another split of local hashing.
let webCrypto: CryptoBackend = streaming;

/** Each distinct ArrayBuffer once (a transfer list may not repeat one). */
export function buffersOf(arrays: Uint8Array[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

const api = {
  async init(localHashShare?: number): Promise<string> {
    webCrypto = localHashShare === undefined ? streaming : webCryptoBackend({ localHashShare });
    return (await codec).variant;
  },
  async encode(job: SegmentEncodeJob): Promise<EncodedSegment> {
    const r = await encodeSegment(job, webCrypto, await codec);
    return transfer(r, buffersOf([r.ciphertext, ...r.blocks]));
  },
  async decode(job: SegmentDecodeJob): Promise<DecodedSegment> {
    const r = await decodeSegment(job, webCrypto, await codec);
    return r.ok ? transfer(r, [r.plaintext.buffer as ArrayBuffer]) : r;
  },
};

export type ChkWorkerApi = typeof api;

expose(api);
