/**
 * What a client can ask of one storage server: Tahoe's storage protocol
 * (reference/tahoe-formats.md §7) as a TypeScript interface. The grid client codes
 * against this; transports (WebSocket direct, WebSocket through the relay, in-process
 * for tests) implement it. Every method rejects with a StorageError on failure.
 */
import { CairnError } from '../errors.ts';
import type { ServerId, ShareNum, StorageIndex } from '../types.ts';
import type { Range } from './ranges.ts';

/** 32-byte lease secrets, derived per (file, server) as in §7.4. */
export interface LeaseSecrets {
  renew: Uint8Array;
  cancel: Uint8Array;
}

export interface UploadSecrets extends LeaseSecrets {
  /**
   * Secret that owns the allocated buckets (Tahoe sends 20 random bytes; Cairn derives it per
   * client, file and server, so running an upload again continues it: core/grid/lease.ts).
   */
  upload: Uint8Array;
}

export interface ServerVersion {
  maximumImmutableShareSize: number;
  maximumMutableShareSize: number;
  /** Bytes the server will still accept (free space minus reserved space). */
  availableSpace: number;
  applicationVersion: string;
}

export interface AllocateResult {
  alreadyHave: ShareNum[];
  allocated: ShareNum[];
  /**
   * For buckets in `allocated` that this upload secret had already written to (an upload
   * being resumed): the share-data byte ranges the server holds, which need not be sent
   * again. Shares not named hold nothing. Servers older than resumable uploads omit it.
   */
  have?: Map<ShareNum, Range[]>;
  /**
   * Every immutable share of the storage index the server holds, asked for or not, as
   * Tahoe's allocate_buckets answers (servers whose hello lists 'allocate-held'): a client
   * that gets it need not list the server's shares before allocating.
   */
  held?: ShareNum[];
}

/** One small file's shares for `putShares`: allocated, written whole and closed in one step. */
export interface WholeShares {
  si: StorageIndex;
  secrets: UploadSecrets;
  /** Bytes each share needs on the server (allocate's size); no share's data is longer. */
  size: number;
  /** Every share's data, whole. */
  shares: Map<ShareNum, Uint8Array>;
}

/** What a server did with one file of a `putShares`. */
export interface WholeSharesResult {
  /** Shares it already held (asked for), now leased to this client. */
  alreadyHave: ShareNum[];
  /** Shares it stored: durable and visible. */
  stored: ShareNum[];
  /** Every immutable share of the storage index it holds, as allocate's `held`. */
  held: ShareNum[];
  /** Why some shares asked for are in neither list (no space, limits, a failed write). */
  refused?: string;
}

export interface TestVector {
  offset: number;
  size: number;
  specimen: Uint8Array;
}
export interface WriteVector {
  offset: number;
  data: Uint8Array;
}
export interface ReadVector {
  offset: number;
  size: number;
}
export interface ShareTestWrite {
  test: TestVector[];
  write: WriteVector[];
  /** null keeps the length; 0 deletes the share. */
  newLength: number | null;
}
export interface MutableSecrets extends LeaseSecrets {
  writeEnabler: Uint8Array;
}
export interface ReadTestWriteResult {
  success: boolean;
  /** For every existing share, the read vector's bytes, read before any write. */
  data: Map<ShareNum, Uint8Array[]>;
}

export interface StorageServerApi {
  readonly serverId: ServerId;
  /** Whether allocateBuckets answers `held` (else the client lists shares first). */
  readonly allocateAnswersHeld?: boolean;
  getVersion(): Promise<ServerVersion>;

  // Immutable shares.
  allocateBuckets(
    si: StorageIndex,
    secrets: UploadSecrets,
    shareNums: ShareNum[],
    allocatedSize: number,
  ): Promise<AllocateResult>;
  writeShare(
    si: StorageIndex,
    shnum: ShareNum,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<void>;
  /**
   * Whether writeShare and writeShareAndClose have read `data` by the time they return, and
   * keep no reference to it: the caller may fill that memory again at once rather than when
   * the write is answered. Otherwise `data` must stay as it is until the write settles.
   */
  readonly readsWritesAtOnce?: boolean;
  /**
   * writeShare then closeShare, in one request where the server can (a share sent whole:
   * every share of a small file). Transports without it are sent the two calls.
   */
  writeShareAndClose?(
    si: StorageIndex,
    shnum: ShareNum,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<void>;
  /** Whether putShares may be asked (the server's hello lists 'put'). */
  readonly acceptsPut?: boolean;
  /**
   * Several small files at once (where `acceptsPut`): each file's shares are
   * allocated, written whole and closed, in one request for them all. Files are independent:
   * one refused takes nothing from the others. Results in the order given.
   */
  putShares?(files: WholeShares[]): Promise<WholeSharesResult[]>;
  /** Makes the share durable (fsync + rename) and visible; after this, reads see it. */
  closeShare(si: StorageIndex, shnum: ShareNum, uploadSecret: Uint8Array): Promise<void>;
  abortShare(si: StorageIndex, shnum: ShareNum, uploadSecret: Uint8Array): Promise<void>;
  listShares(si: StorageIndex): Promise<ShareNum[]>;
  /** Reads up to `length` bytes of share data at `offset` (short at the end). */
  readShare(si: StorageIndex, shnum: ShareNum, offset: number, length: number): Promise<Uint8Array>;

  /** Adds or renews a lease on every share of `si` held here; rejects with NOT_FOUND if none. */
  addLease(si: StorageIndex, secrets: LeaseSecrets): Promise<void>;
  adviseCorruptShare(
    kind: 'immutable' | 'mutable',
    si: StorageIndex,
    shnum: ShareNum,
    reason: string,
  ): Promise<void>;

  // Mutable slots.
  readTestWrite(
    si: StorageIndex,
    secrets: MutableSecrets,
    testWrite: Map<ShareNum, ShareTestWrite>,
    readVector: ReadVector[],
  ): Promise<ReadTestWriteResult>;
  listMutableShares(si: StorageIndex): Promise<ShareNum[]>;
  readMutableShare(si: StorageIndex, shnum: ShareNum, offset: number, length: number): Promise<Uint8Array>;
  /**
   * The same range (at most MAX_READV_BYTES) of every mutable share of `si` held here, by
   * share number; an empty map when it holds none. One round trip where the server lists
   * the `mutable-readv` feature, a listing and the reads elsewhere.
   */
  readMutableShares(si: StorageIndex, offset: number, length: number): Promise<Map<ShareNum, Uint8Array>>;
}

export type StorageErrorCode =
  | 'NOT_FOUND'
  | 'BAD_SECRET'
  | 'BAD_WRITE_ENABLER'
  | 'CONFLICT'
  | 'NO_SPACE'
  | 'TOO_LARGE'
  | 'BAD_REQUEST'
  | 'UNAVAILABLE'
  | 'TIMEOUT';

export class StorageError extends CairnError {
  declare readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string) {
    super(code, message);
  }
}
