/**
 * The storage server, after Tahoe's storage/server.py: one facade over the jobs it is made
 * of, each in its own module: immutable uploads with their parking and checkpoints
 * (immutable-uploads.ts), immutable reads (immutable-reads.ts), immutable leases
 * (immutable-leases.ts), mutable slots (mutable-slots.ts), the lease crawler's judgement
 * (expiry.ts), corruption advisories, reserved space. No I/O of its own beyond the
 * injected ShareBackend; the clock is injected so tests can move time. The facade holds
 * what the jobs share: the per-storage-index lock, the space ledger, lease terms.
 *
 * Nothing one client does may stop the server serving others: uploads in progress are
 * bounded per connection and in total and are set aside (parked) with their connection
 * (uploads.ts); parked uploads hold no slot or file and are bounded in number, bytes and age; file
 * handles are bounded (the backend's handle budget), leases per share are capped
 * (leases.ts), advisories are bounded (advisories.ts), and space is booked atomically
 * (space.ts) for uploads and mutable writes alike.
 */
import { base32Encode } from '../core/primitives/base32.ts';
import type {
  AllocateArgs,
  BucketArgs,
  CorruptArgs,
  LeaseArgs,
  PutFile,
  ReadArgs,
  ReadTestWriteArgs,
  ReadvArgs,
  WriteArgs,
} from '../core/protocol/frames.ts';
import * as L from '../core/protocol/limits.ts';
import {
  type AllocateResult,
  StorageError,
  type ServerVersion,
  type WholeSharesResult,
} from '../core/protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import { AdvisoryLimiter, advisoryName, advisoryText } from './advisories.ts';
import type { ShareBackend } from './backends/backend.ts';
import { type LeaseRequest, OWNER_ALLOCATE, OWNER_LEASE } from './containers.ts';
import { type CrawlCounts, type ExpiryPolicy, examineStorageIndex } from './expiry.ts';
import { ImmutableLeases } from './immutable-leases.ts';
import { ImmutableReads } from './immutable-reads.ts';
import { ImmutableUploads } from './immutable-uploads.ts';
import { KeyedLock } from './keyed-lock.ts';
import { MutableSlots } from './mutable-slots.ts';
import { siKey, siPrefix } from './si.ts';
import { SpaceLedger } from './space.ts';
import { UploadSession } from './uploads.ts';

export { siPrefix } from './si.ts';
export { UploadSession } from './uploads.ts';

export const LEASE_DURATION_MS = 31 * 24 * 3600 * 1000;
export const APPLICATION_VERSION = 'cairn/0.1.0';
/** Uploads in progress at once, all connections together (they hold no file until written). */
export const MAX_PENDING_UPLOADS = 8192;
/** How long the uploads of a closed connection wait for their client to reconnect. */
export const UPLOAD_GRACE_MS = 30_000;
/** How long an unfinished upload is kept for its client to resume it. */
export const PARKED_TTL_MS = 24 * 3600 * 1000;
/** Unfinished uploads kept at most, and their bytes on disk at most (the oldest give way). */
export const MAX_PARKED_UPLOADS = 8192;
export const MAX_PARKED_BYTES = 16 * 2 ** 30;
/** A bucket's written bytes are made durable (a checkpoint) after this many bytes or this long. */
export const CHECKPOINT_BYTES = 4 * 2 ** 20;
export const CHECKPOINT_MS = 2_000;

export interface StorageServerOptions {
  backend: ShareBackend;
  /** This server's 20-byte lease seed, recorded in mutable containers as Tahoe records its node id. */
  nodeId: Uint8Array;
  /** Bytes of free space the server must leave alone. */
  reservedSpace?: number;
  /** Milliseconds since the epoch (injected for tests). */
  now?: () => number;
  /** An upload idle this long is aborted (default 10 minutes). */
  uploadIdleTimeoutMs?: number;
  /** The uploads of a closed connection are aborted this long after it closed (default 30 s). */
  uploadGraceMs?: number;
  /** Uploads in progress, all connections together (default MAX_PENDING_UPLOADS). */
  maxPendingUploads?: number;
  /** Uploads in progress per connection (default limits.MAX_PENDING_UPLOADS_PER_CONNECTION). */
  maxPendingUploadsPerConnection?: number;
  /** Unfinished uploads kept for resumption: how many, how many bytes, how long (defaults above). */
  maxParkedUploads?: number;
  maxParkedBytes?: number;
  parkedTtlMs?: number;
  /** Checkpoint a bucket after this many written bytes or this long (defaults above). */
  checkpointBytes?: number;
  checkpointMs?: number;
  /** Log lines for the operator; never given caps or plaintext (the server has neither). */
  log?: (line: string) => void;
}

export class StorageServer {
  private readonly backend: ShareBackend;
  private readonly nodeId: Uint8Array;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly locks = new KeyedLock();
  private readonly space: SpaceLedger;
  private readonly uploads: ImmutableUploads;
  private readonly reads: ImmutableReads;
  private readonly leases: ImmutableLeases;
  private readonly mutable: MutableSlots;
  private readonly advisories: AdvisoryLimiter;
  private advisorySeq = 0;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(opts: StorageServerOptions) {
    this.backend = opts.backend;
    this.nodeId = opts.nodeId;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.space = new SpaceLedger(opts.reservedSpace ?? 0);
    this.leases = new ImmutableLeases(this.backend);
    this.uploads = new ImmutableUploads({
      backend: this.backend,
      locks: this.locks,
      space: this.space,
      now: this.now,
      log: this.log,
      leaseExpiry: () => this.leaseExpiry(),
      leaseExisting: (si, shares, renew, cancel) =>
        this.leases.addOrRenew(si, shares, this.leaseRequest(renew, cancel, OWNER_ALLOCATE)),
      uploads: {
        perConnection: opts.maxPendingUploadsPerConnection ?? L.MAX_PENDING_UPLOADS_PER_CONNECTION,
        total: opts.maxPendingUploads ?? MAX_PENDING_UPLOADS,
        graceMs: opts.uploadGraceMs ?? UPLOAD_GRACE_MS,
        idleMs: opts.uploadIdleTimeoutMs ?? 10 * 60 * 1000,
      },
      parked: {
        count: opts.maxParkedUploads ?? MAX_PARKED_UPLOADS,
        bytes: opts.maxParkedBytes ?? MAX_PARKED_BYTES,
        ttlMs: opts.parkedTtlMs ?? PARKED_TTL_MS,
      },
      checkpointBytes: opts.checkpointBytes ?? CHECKPOINT_BYTES,
      checkpointMs: opts.checkpointMs ?? CHECKPOINT_MS,
    });
    this.reads = new ImmutableReads(this.backend);
    this.mutable = new MutableSlots({
      backend: this.backend,
      locks: this.locks,
      space: this.space,
      nodeId: this.nodeId,
      log: this.log,
    });
    this.advisories = new AdvisoryLimiter(this.now);
  }

  async start(): Promise<void> {
    await this.backend.init();
    await this.uploads.recover(await this.backend.recoverUploads());
    await this.mutable.recover();
    this.advisories.load(await this.backend.advisoryNames());
    const { graceMs, idleMs } = this.uploads.limits;
    this.sweeper = setInterval(
      () => {
        void this.parkIdleUploads();
        void this.expireParked();
        this.reads.closeIdle();
      },
      Math.min(30_000, idleMs, graceMs),
    );
    this.sweeper.unref?.();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.reads.closeAll();
    // Unfinished uploads stay resumable across a restart.
    await this.uploads.parkAll();
    await this.mutable.close();
    await this.backend.close();
  }

  /** Free space minus reserved space minus space promised to uploads and writes in progress. */
  async availableSpace(): Promise<number> {
    return this.space.available(await this.backend.freeBytes());
  }

  async version(): Promise<ServerVersion> {
    const available = await this.availableSpace();
    return {
      maximumImmutableShareSize: Math.min(L.MAX_IMMUTABLE_SHARE_BYTES, available),
      maximumMutableShareSize: L.MAX_MUTABLE_SHARE_BYTES,
      availableSpace: available,
      applicationVersion: APPLICATION_VERSION,
    };
  }

  private leaseExpiry(): number {
    return Math.floor((this.now() + LEASE_DURATION_MS) / 1000);
  }

  /** A lease running 31 days from now, with the owner number Tahoe gives it. */
  private leaseRequest(
    renew: Uint8Array,
    cancel: Uint8Array,
    owner: number,
    nodeId?: Uint8Array,
  ): LeaseRequest {
    return { renew, cancel, owner, nodeId, expires: this.leaseExpiry() };
  }

  // ---- connections --------------------------------------------------------------------

  /** A connection opened: uploads it allocates live as long as it does (plus a grace). */
  openSession(): UploadSession {
    return new UploadSession();
  }

  /** The connection closed: its uploads wait the grace period for the client to reconnect. */
  closeSession(session: UploadSession): void {
    this.uploads.closeSession(session);
  }

  /** Uploads in progress, how many of them lost their connection, and parked ones (white-box figures for tests). */
  uploadCounts(): {
    inProgress: number;
    orphaned: number;
    parked: number;
    parkedBytes: number;
    /** Space promised to uploads and mutable writes in progress. */
    bookedBytes: number;
  } {
    return { ...this.uploads.counts(), bookedBytes: this.space.promised };
  }

  // ---- immutable (immutable-uploads.ts, immutable-reads.ts) --------------------------

  allocate(a: AllocateArgs, session: UploadSession): Promise<AllocateResult> {
    return this.uploads.allocate(a, session);
  }

  write(a: WriteArgs, session: UploadSession): Promise<void> {
    return this.uploads.write(a, session);
  }

  close(a: BucketArgs, session: UploadSession): Promise<void> {
    return this.uploads.close(a, session);
  }

  /** A write that also closes its share (the client's whole share in one request). */
  writeAndClose(a: WriteArgs, session: UploadSession): Promise<void> {
    return this.uploads.writeAndClose(a, session);
  }

  abort(a: BucketArgs, session: UploadSession): Promise<void> {
    return this.uploads.abort(a, session);
  }

  /** Several small files' shares allocated, written whole and closed at once. */
  put(files: readonly PutFile[], session: UploadSession): Promise<WholeSharesResult[]> {
    return this.uploads.put(files, session);
  }

  /**
   * Parks orphaned uploads past their grace and uploads nobody touched for the idle
   * timeout: they stop holding slots, and their clients can still resume them.
   */
  parkIdleUploads(): Promise<number> {
    return this.uploads.parkIdleUploads();
  }

  /** Deletes parked uploads past their age. */
  expireParked(): Promise<number> {
    return this.uploads.expireParked();
  }

  listImmutable(si: StorageIndex): Promise<ShareNum[]> {
    return this.backend.listShares('immutable', si);
  }

  listMutable(si: StorageIndex): Promise<ShareNum[]> {
    return this.mutable.list(si);
  }

  /**
   * Reads share data. With `place`, the bytes go where `place(n)` says (the caller can
   * lay a reply frame around them and skip a copy); the filled view is returned.
   */
  readImmutable(a: ReadArgs, place?: (n: number) => Uint8Array): Promise<Uint8Array> {
    return this.reads.read(a, place);
  }

  // ---- leases -------------------------------------------------------------------------

  addLease(a: LeaseArgs): Promise<void> {
    return this.locks.run(siKey(a.si), async () => {
      const imm = await this.backend.listShares('immutable', a.si);
      await this.leases.addOrRenew(a.si, imm, this.leaseRequest(a.renew, a.cancel, OWNER_LEASE));
      const mut = await this.mutable.leaseAll(
        a.si,
        this.leaseRequest(a.renew, a.cancel, OWNER_LEASE, this.nodeId),
      );
      if (imm.length + mut === 0) throw new StorageError('NOT_FOUND', `no shares of ${siPrefix(a.si)} here`);
    });
  }

  // ---- lease crawler (crawler.ts walks the storage indexes; expiry.ts judges) -------

  /** Storage indexes whose base32 name starts with `prefix` (two characters), in name order. */
  storageIndexesIn(prefix: string): Promise<StorageIndex[]> {
    return this.backend.storageIndexesIn(prefix);
  }

  /** One storage index's turn in the lease crawler: its shares judged, and expired ones deleted if asked. */
  examineStorageIndex(si: StorageIndex, policy: ExpiryPolicy): Promise<CrawlCounts> {
    return this.locks.run(siKey(si), () =>
      examineStorageIndex(
        {
          backend: this.backend,
          mutable: this.mutable,
          uploadInProgress: (s, sh) => this.uploads.inProgress(s, sh),
          forgetReader: (s, sh) => this.reads.forget(s, sh),
          log: this.log,
        },
        si,
        policy,
      ),
    );
  }

  /**
   * Drops every expired lease now, as Tahoe's expirer does (blank records in place), and
   * deletes shares left with none: what the Tahoe on-disk interop scenario replays. Servers
   * run the lease crawler (crawler.ts, expiry.ts) instead.
   */
  async expireLeases(): Promise<{ leasesRemoved: number; sharesDeleted: number }> {
    const nowSecs = Math.floor(this.now() / 1000);
    let leasesRemoved = 0;
    let sharesDeleted = 0;
    for await (const si of this.backend.listStorageIndexes()) {
      await this.locks.run(siKey(si), async () => {
        const i = await this.leases.expireByTime(si, nowSecs, (sh) => this.reads.forget(si, sh));
        const m = await this.mutable.expireByTime(si, nowSecs);
        leasesRemoved += i.leasesRemoved + m.leasesRemoved;
        sharesDeleted += i.sharesDeleted + m.sharesDeleted;
      });
    }
    if (leasesRemoved || sharesDeleted) {
      this.log(`lease expiry: ${leasesRemoved} lease(s) expired, ${sharesDeleted} share(s) deleted`);
    }
    return { leasesRemoved, sharesDeleted };
  }

  // ---- corruption advisories ----------------------------------------------------------

  async adviseCorrupt(a: CorruptArgs): Promise<void> {
    const have = a.kind === 'immutable' ? await this.listImmutable(a.si) : await this.listMutable(a.si);
    if (!have.includes(a.sh))
      throw new StorageError('NOT_FOUND', `no ${a.kind} share ${a.sh} of ${siPrefix(a.si)} here`);
    const si = base32Encode(a.si);
    this.advisories.admit(si);
    try {
      await this.backend.recordAdvisory(
        advisoryName(new Date(this.now()), si, a.kind, a.sh, ++this.advisorySeq),
        advisoryText(a.kind, si, a.sh, a.reason),
      );
    } catch (err) {
      this.advisories.unadmit(si);
      throw err;
    }
    this.log(`corruption advised: ${a.kind} si=${siPrefix(a.si)} sh=${a.sh}`);
  }

  // ---- mutable ------------------------------------------------------------------------

  /** Reads mutable share data; `place` as for readImmutable. */
  readMutable(a: ReadArgs, place?: (n: number) => Uint8Array): Promise<Uint8Array> {
    return this.mutable.read(a, place);
  }

  /** One range of every mutable share of `si` held here (none: an empty map). */
  async readMutableAll(a: ReadvArgs): Promise<Map<ShareNum, Uint8Array>> {
    const shnums = await this.mutable.list(a.si);
    // A share gone since the listing (expired, or its last lease cancelled) is left out.
    const reads = await Promise.all(
      shnums.map((sh) =>
        this.mutable.read({ ...a, sh }).catch((err) => {
          if (err instanceof StorageError && err.code === 'NOT_FOUND') return null;
          throw err;
        }),
      ),
    );
    return new Map(shnums.flatMap((sh, i) => (reads[i] ? [[sh, reads[i]] as const] : [])));
  }

  /** Tahoe's slot_testv_and_readv_and_writev (tahoe-formats §7.3), all-or-nothing. */
  readTestWrite(a: ReadTestWriteArgs): Promise<{ success: boolean; data: Map<ShareNum, Uint8Array[]> }> {
    return this.mutable.readTestWrite(a, this.leaseRequest(a.renew, a.cancel, OWNER_LEASE, this.nodeId));
  }
}
