/**
 * Where a storage server keeps share containers. The StorageServer core speaks only this
 * interface; the disk backend implements it today (an S3 one can later). Shares are
 * addressed by (kind, storage index, share number): an immutable share and a mutable one
 * may both exist under one storage index and number without touching each other. The
 * backend owns paths and durability; callers serialise changes per storage index.
 */
import type { ShareNum, StorageIndex } from '../../core/types.ts';
import type { ContainerVersion, Lease, ShareKind } from '../containers.ts';

/** Random-access bytes of one share container. */
export interface ShareFile {
  read(position: number, length: number): Promise<Uint8Array>;
  /** Reads up to target.length bytes at `position` into `target`; returns how many (short at the end). */
  readInto(position: number, target: Uint8Array): Promise<number>;
  write(position: number, data: Uint8Array): Promise<void>;
  size(): Promise<number>;
  /** Sets the length: cuts, or extends with zeros. */
  truncate(length: number): Promise<void>;
  /** Flushes written bytes to stable storage. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** What makes an uploaded immutable share whole: how much data it holds, and its first leases. */
export interface ShareSeal {
  dataLength: number;
  leases: Lease[];
  /**
   * The whole share data, when none was written through `file` (a share sent whole with
   * its close): the backend writes it with the header and leases (on disk, one write).
   */
  data?: Uint8Array;
}

/** The bytes of an upload in progress: written at any offset, read back; nothing else. */
export type PendingData = Pick<ShareFile, 'read' | 'write'>;

/**
 * An immutable share being uploaded out of sight: nothing reads it until commit, which is
 * atomic. Creating one costs nothing (no file is opened until the first write), so buckets
 * that are allocated and never written hold no file handle.
 */
export interface PendingShare {
  /**
   * Where clients' data goes, at its place in Tahoe's container (after the header, at
   * IMMUTABLE_HEADER_BYTES + offset), in any order; read back to check overlapping writes.
   * The header and lease records are the backend's to write, at commit.
   */
  readonly file: PendingData;
  /**
   * Writes the share once, whole: its header and `seal.leases` (where the backend keeps
   * them) around the data written, durably, visible under its final name; drops its
   * checkpoint. On failure the caller discards it.
   */
  commit(seal: ShareSeal): Promise<void>;
  /** Deletes it and its checkpoint. */
  discard(): Promise<void>;
  /**
   * Makes every byte written so far durable, then records `state` (the server's own bytes:
   * which ranges those are, and whose upload) durably and whole, replacing the last one.
   * After a crash the backend hands back the share with the last state recorded whole
   * (recoverUploads); bytes written after it are not vouched for by it. Needs a written file.
   */
  checkpoint(state: Uint8Array): Promise<void>;
  /** Closes any handle the share holds (it is being parked); later use reopens it. */
  release(): Promise<void>;
}

/** An unfinished upload a previous run checkpointed, as recovered at start. */
export interface RecoveredUpload {
  si: StorageIndex;
  sh: ShareNum;
  /** The last state it recorded whole. */
  state: Uint8Array;
  /** Its data bytes on disk. */
  bytes: number;
  pending: PendingShare;
}

/** The lease records of one committed immutable share. */
export interface ShareLeases {
  /** The container version they are stored for (v1 keeps lease secrets as they are, v2 hashed). */
  version: ContainerVersion;
  /** In order: a renewal keeps a lease's place, a new one goes at the end. */
  leases: Lease[];
}

/**
 * The leases of committed immutable shares, kept apart from the share's data so changing
 * one never rewrites the share: the disk backend keeps them where Tahoe does (the end of
 * the container, so a Tahoe node still reads our share folders), the memory and S3
 * backends in records of their own. Callers serialise changes per storage index.
 */
export interface LeaseStore {
  /** The share's lease records, or null when there is no such immutable share. */
  get(si: StorageIndex, sh: ShareNum): Promise<ShareLeases | null>;
  /**
   * Replaces the share's lease records, durably, without touching its data (a share that
   * is gone stays gone). The server changes them one way at a time: an expiry renewed, a
   * record added or replaced, or expired ones dropped.
   */
  set(si: StorageIndex, sh: ShareNum, leases: Lease[]): Promise<void>;
}

/** A journal left by a mutable write that may not have been applied in full. */
export interface JournalRecord {
  si: StorageIndex;
  bytes: Uint8Array;
}

export interface ShareBackend {
  /** Where the leases of committed immutable shares are kept. */
  readonly leases: LeaseStore;
  /**
   * A mutable share's writes are read by every later open before sync() (a file system's
   * page cache): sync only makes them durable. The server may then leave a change's last
   * fsync, and its journal, for the slot's next change or a moment later (mutable-slots.ts).
   * Where a write is seen only once synced (an object store), each change is synced whole.
   */
  readonly writesVisibleBeforeSync?: boolean;
  /** Prepares storage. */
  init(): Promise<void>;
  /**
   * The unfinished uploads earlier runs checkpointed (each with its last whole state);
   * everything else they left unfinished is deleted. Called once, after init.
   */
  recoverUploads(): Promise<RecoveredUpload[]>;
  /** Closes what the backend holds open. */
  close(): Promise<void>;
  /** Bytes the underlying storage can still take. */
  freeBytes(): Promise<number>;
  /** Every storage index with shares here, of either kind, once (for crawlers such as the lease expirer). */
  listStorageIndexes(): AsyncIterable<StorageIndex>;
  /**
   * The storage indexes with shares here (either kind, each once) whose base32 name starts
   * with `prefix` (2 characters, Tahoe's prefix folders), sorted by that name: the lease
   * crawler walks the 1024 prefixes in order and keeps its place by name.
   */
  storageIndexesIn(prefix: string): Promise<StorageIndex[]>;
  /** Share numbers of `kind` held for `si`. */
  listShares(kind: ShareKind, si: StorageIndex): Promise<ShareNum[]>;
  /**
   * Opens a committed share, or null when there is none of that kind. An immutable share is
   * seen as Tahoe's container (header, data, lease records) and is read, never written: its
   * leases change through `leases`.
   */
  openShare(kind: ShareKind, si: StorageIndex, sh: ShareNum, writable: boolean): Promise<ShareFile | null>;
  /** Opens a mutable share for in-place changes, creating an empty file (durably named) if missing. */
  openOrCreateMutable(si: StorageIndex, sh: ShareNum): Promise<ShareFile>;
  /**
   * Stores a new mutable share whole in one step: after a crash it is absent or whole, never
   * part written, so a slot change that only creates it needs no journal. Optional: without
   * it the server journals the creation as any other change.
   */
  createMutable?(si: StorageIndex, sh: ShareNum, bytes: Uint8Array): Promise<void>;
  /**
   * Starts an immutable upload (no I/O until its file is first written). `size`: the data
   * bytes allocated, when known (a backend may send the share on as it is written).
   */
  createPending(si: StorageIndex, sh: ShareNum, size?: number): PendingShare;

  deleteShare(kind: ShareKind, si: StorageIndex, sh: ShareNum): Promise<void>;

  /** Stores the journal of a change to the mutable slot `si` (one per slot), durably, before it is applied. */
  writeJournal(si: StorageIndex, bytes: Uint8Array): Promise<void>;
  removeJournal(si: StorageIndex): Promise<void>;
  /** Journals present now (after a crash: the changes that may be half-applied). */
  journals(): AsyncIterable<JournalRecord>;

  /** Keeps a corruption advisory for the operator (text only, no share data) under a plain name. */
  recordAdvisory(name: string, text: string): Promise<void>;
  /** Names of the advisories kept (so limits survive restarts). */
  advisoryNames(): Promise<string[]>;
}
