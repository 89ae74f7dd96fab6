/** What bench/load.ts and its client processes (bench/load-worker.ts) tell each other. */
export type OpName = 'upload' | 'reupload' | 'download' | 'mcreate' | 'moverwrite' | 'mmodify' | 'mread';
export const OPS: OpName[] = ['upload', 'reupload', 'download', 'mcreate', 'moverwrite', 'mmodify', 'mread'];

export interface ImmutableRecord {
  kind: 'imm';
  cap: string;
  seed: number;
  size: number;
  owner: number;
}
export interface MutableRecord {
  kind: 'mut';
  readCap: string;
  owner: number;
  format: 'mdmf' | 'sdmf';
  /** Hashes of every version its owner published or set out to publish. */
  hashes: string[];
  /** Writes its owner began and ended (a reader can tell whether one overlapped its read). */
  began?: number;
  ended?: number;
}

export interface OpStats {
  ok: number;
  errors: Record<string, number>;
  /** Milliseconds of each finished operation (ok or not). */
  latencies: number[];
  /** Plaintext bytes moved by successful operations. */
  bytes: number;
}

export interface WorkerReport {
  ops: Record<OpName, OpStats>;
  /** A few messages per error code, to investigate. */
  samples: Record<string, string[]>;
  /** Downloads and reads compared byte-equal (or hash-equal for others' mutable files). */
  verified: number;
  /** Operations still running when the worker gave up waiting for them. */
  unfinished: number;
  loopDelayMs: { p50: number; p99: number; max: number };
}

export interface FinalReport {
  checked: number;
  lost: Array<{ what: string; why: string }>;
}

export type ToWorker =
  | {
      type: 'start';
      relayUrl: string;
      clients: number[];
      seed: number;
      seconds: number;
      /** How long loops may take to finish their last operation after the deadline. */
      drainMs: number;
    }
  | { type: 'file'; rec: ImmutableRecord | MutableRecord }
  | { type: 'mver'; readCap: string; hash: string }
  | { type: 'mdone'; readCap: string }
  | { type: 'final' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'file'; rec: ImmutableRecord | MutableRecord }
  | { type: 'mver'; readCap: string; hash: string }
  | { type: 'mdone'; readCap: string }
  | { type: 'progress'; ok: number; err: number }
  | { type: 'done'; report: WorkerReport }
  | { type: 'final-result'; report: FinalReport };
