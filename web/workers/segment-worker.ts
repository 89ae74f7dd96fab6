/**
 * Per-segment CHK work (encrypt + erasure-code + hash, or verify + decode + decrypt) in a
 * module worker, so the grid worker that drives a transfer only reads, hashes the whole
 * file and moves bytes over its sockets. Inputs arrive transferred (segment-runner.ts) and
 * results go back transferred, never copied.
 */
import backend from '#crypto-backend';
import { expose } from 'comlink';
import { loadCodec } from '../../core/codec/index.ts';
import { decodeBuffers, type SegmentDecodeJob, type SegmentEncodeJob } from '../../core/immutable/segment.ts';
import { decodeJobs, encodeJobs } from './segment-jobs.ts';

const codec = loadCodec();
const ciphertexts = decodeBuffers();

const api = {
  /** Loads the codec; resolves to the build in use. */
  async init(): Promise<string> {
    return (await codec).variant;
  },
  async encode(jobs: SegmentEncodeJob[]) {
    return encodeJobs(jobs, backend, await codec);
  },
  async decode(jobs: SegmentDecodeJob[], input: ArrayBuffer) {
    return decodeJobs(jobs, input, backend, await codec, ciphertexts);
  },
};

export type SegmentWorkerApi = typeof api;

expose(api);
