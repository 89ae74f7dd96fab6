/**
 * Where a storage server keeps share containers. The StorageServer core speaks only this
 * interface; the disk backend implements it today (an S3 one can later). Files are
 * addressed by (storage index, share number); the backend owns paths and durability.
 */
import type { ShareNum, StorageIndex } from '../core/types.ts';

/** Random-access bytes of one share container. */
export interface ShareFile {
  read(position: number, length: number): Promise<Uint8Array>;
  /** Reads up to target.length bytes at `position` into `target`; returns how many (short at the end). */
  readInto(position: number, target: Uint8Array): Promise<number>;
  write(position: number, data: Uint8Array): Promise<void>;
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  /** Flushes written bytes to stable storage. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** A share being written out of sight: nothing reads it until commit, which is atomic. */
export interface PendingShare {
  readonly file: ShareFile;
  /** Makes it durable and visible under its final name, replacing any share there. */
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export interface ShareBackend {
  /** Prepares storage and forgets every upload a previous run left unfinished. */
  init(): Promise<void>;
  /** Bytes the underlying storage can still take. */
  freeBytes(): Promise<number>;
  /** Every storage index with shares here (for crawlers such as the lease expirer). */
  listStorageIndexes(): AsyncIterable<StorageIndex>;
  /** Share numbers held for `si` (both kinds; the core tells them apart by container). */
  listShares(si: StorageIndex): Promise<ShareNum[]>;
  /** Opens a committed share, or null when there is none. */
  openShare(si: StorageIndex, sh: ShareNum, writable: boolean): Promise<ShareFile | null>;
  /** Starts a new share; `copyExisting` starts from a copy of the committed one (copy-on-write). */
  createPending(si: StorageIndex, sh: ShareNum, copyExisting: boolean): Promise<PendingShare>;
  deleteShare(si: StorageIndex, sh: ShareNum): Promise<void>;
  /** Keeps a corruption advisory for the operator (text only, no share data). */
  recordAdvisory(text: string): Promise<void>;
}
