/**
 * The storage server's logic, after Tahoe's storage/server.py: immutable buckets that are
 * written once and made durable on close, mutable slots (mutable-slots.ts), leases,
 * corruption advisories, reserved space. No I/O of its own beyond the ShareBackend; the
 * clock is injected so tests can move time.
 *
 * Nothing one client does may stop the server serving others: uploads in progress are
 * bounded per connection and in total and are set aside (parked) with their connection
 * (uploads.ts); parked uploads hold no slot or file and are bounded in number, bytes and age; file
 * handles are bounded (the backend's handle budget), leases per share are capped
 * (leases.ts), advisories are bounded (advisories.ts), and space is booked atomically
 * (space.ts) for uploads and mutable writes alike.
 */
import { createHash } from 'node:crypto';
import { base32Encode } from '../core/primitives/base32.ts';
import { equalBytes } from '../core/primitives/bytes.ts';
import { decodeCbor, encodeCbor, Fields } from '../core/protocol/cbor.ts';
import type {
  AllocateArgs,
  BucketArgs,
  CorruptArgs,
  LeaseArgs,
  ReadArgs,
  ReadTestWriteArgs,
  WriteArgs,
} from '../core/protocol/frames.ts';
import * as L from '../core/protocol/limits.ts';
import { type AllocateResult, StorageError, type ServerVersion } from '../core/protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import { AdvisoryLimiter, advisoryName, advisoryText } from './advisories.ts';
import type { RecoveredUpload, ShareBackend, ShareFile } from './backend.ts';
import {
  decodeImmutableLeases,
  encodeImmutableHeader,
  encodeImmutableLeases,
  encodeLeaseCount,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  IMMUTABLE_LEASE_COUNT_OFFSET,
  immutableLayout,
  type LeaseRequest,
  leaseFor,
  newLease,
  OWNER_ALLOCATE,
  OWNER_LEASE,
} from './containers.ts';
import { type CrawlCounts, type ExpiryPolicy, examineStorageIndex } from './expiry.ts';
import { KeyedLock } from './keyed-lock.ts';
import { addOrRenewLease } from './leases.ts';
import { MutableSlots } from './mutable-slots.ts';
import { isCanonical } from '../core/protocol/ranges.ts';
import { addRange, countAfterAdd, coveredBytes, overlaps, type Range } from './ranges.ts';
import { ReaderCache } from './reader-cache.ts';
import { siKey, siPrefix } from './si.ts';
import { SpaceLedger } from './space.ts';
import {
  type Bucket,
  type ParkedUpload,
  ParkedTable,
  type Refusal,
  UploadSession,
  UploadTable,
} from './uploads.ts';

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
  private readonly uploads: UploadTable;
  private readonly parked: ParkedTable;
  /** Buckets being parked, by bucket key: an allocate of the same share waits for them. */
  private readonly parking = new Map<string, Promise<void>>();
  private readonly checkpointBytes: number;
  private readonly checkpointMs: number;
  private readonly mutable: MutableSlots;
  private readonly advisories: AdvisoryLimiter;
  private advisorySeq = 0;
  /** Recently read immutable shares and their data lengths (their data never changes once closed). */
  private readonly readers: ReaderCache;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(opts: StorageServerOptions) {
    this.backend = opts.backend;
    this.nodeId = opts.nodeId;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.space = new SpaceLedger(opts.reservedSpace ?? 0);
    this.uploads = new UploadTable({
      perConnection: opts.maxPendingUploadsPerConnection ?? L.MAX_PENDING_UPLOADS_PER_CONNECTION,
      total: opts.maxPendingUploads ?? MAX_PENDING_UPLOADS,
      graceMs: opts.uploadGraceMs ?? UPLOAD_GRACE_MS,
      idleMs: opts.uploadIdleTimeoutMs ?? 10 * 60 * 1000,
    });
    this.parked = new ParkedTable({
      count: opts.maxParkedUploads ?? MAX_PARKED_UPLOADS,
      bytes: opts.maxParkedBytes ?? MAX_PARKED_BYTES,
      ttlMs: opts.parkedTtlMs ?? PARKED_TTL_MS,
    });
    this.checkpointBytes = opts.checkpointBytes ?? CHECKPOINT_BYTES;
    this.checkpointMs = opts.checkpointMs ?? CHECKPOINT_MS;
    this.mutable = new MutableSlots({
      backend: this.backend,
      locks: this.locks,
      space: this.space,
      nodeId: this.nodeId,
      log: this.log,
    });
    this.advisories = new AdvisoryLimiter(this.now);
    this.readers = new ReaderCache(async (si, sh) => {
      const f = await this.backend.openShare('immutable', si, sh, false);
      if (!f) throw new StorageError('NOT_FOUND', `no immutable share ${sh} of ${siPrefix(si)} here`);
      const head = await f.read(0, IMMUTABLE_HEADER_BYTES);
      return { file: f, dataLength: immutableLayout(head, await f.size()).dataLength };
    });
  }

  async start(): Promise<void> {
    await this.backend.init();
    await this.recoverUploads(await this.backend.recoverUploads());
    await this.mutable.recover();
    this.advisories.load(await this.backend.advisoryNames());
    const { graceMs, idleMs } = this.uploads.limits;
    this.sweeper = setInterval(
      () => {
        void this.parkIdleUploads();
        void this.expireParked();
        void this.readers.closeIdle();
      },
      Math.min(30_000, idleMs, graceMs),
    );
    this.sweeper.unref?.();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.readers.closeAll();
    // Unfinished uploads stay resumable across a restart.
    for (const b of this.uploads.all()) {
      this.unbook(b);
      await this.park(b);
    }
    await Promise.all(this.parking.values());
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
    this.uploads.close(session, this.now());
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
    return {
      inProgress: this.uploads.size,
      orphaned: this.uploads.orphanCount,
      parked: this.parked.size,
      parkedBytes: this.parked.bytes,
      bookedBytes: this.space.promised,
    };
  }

  // ---- immutable ----------------------------------------------------------------------

  allocate(a: AllocateArgs, session: UploadSession): Promise<AllocateResult> {
    return this.locks.run(siKey(a.si), async () => {
      const existing = new Set(await this.backend.listShares('immutable', a.si));
      const secretHash = sha256(a.upload);
      await this.parkingDone(a.si, a.shares);
      // Parked uploads of others give way when the space is needed for this one.
      const fresh = a.shares.filter(
        (sh) =>
          !existing.has(sh) &&
          !this.uploads.get(bucketKey(a.si, sh)) &&
          !this.parked.get(parkedKey(bucketKey(a.si, sh), secretHash)),
      ).length;
      let free = await this.backend.freeBytes();
      if (fresh > 0 && fresh * a.size > this.space.available(free) && this.parked.size > 0) {
        free = await this.makeRoom(fresh * a.size, free, a.si);
      }
      await this.parkingDone(a.si, a.shares);
      // From here to the end of the loop nothing awaits: each check and its booking are
      // one step, so concurrent allocations cannot both be promised the same bytes or slots.
      const now = this.now();
      const alreadyHave: ShareNum[] = [];
      const allocated: ShareNum[] = [];
      const have = new Map<ShareNum, Range[]>();
      const evicted: Bucket[] = [];
      const stale: ParkedUpload[] = [];
      let resumed = 0;
      let refusedForSpace = 0;
      let refusal: Refusal | null = null;
      for (const sh of a.shares) {
        const key = bucketKey(a.si, sh);
        if (existing.has(sh)) {
          alreadyHave.push(sh);
          // Unfinished uploads of a share that exists are of no more use.
          for (const p of this.parked.forBucket(key)) {
            this.parked.remove(p);
            stale.push(p);
          }
          continue;
        }
        const held = this.uploads.get(key);
        if (held) {
          // Idempotent for the same upload; another upload's bucket is busy (neither list).
          if (equalBytes(held.upload, a.upload)) {
            this.uploads.touch(held, session, now);
            held.received = 0;
            allocated.push(sh);
            if (held.written.length > 0)
              have.set(
                sh,
                held.written.map(([x, y]): Range => [x, y]),
              );
          }
          continue;
        }
        let parked = this.parked.get(parkedKey(key, secretHash));
        if (parked && parked.size !== a.size) {
          // Written for another layout: of no use to this one.
          this.parked.remove(parked);
          stale.push(parked);
          parked = undefined;
        }
        if (a.size > this.space.available(free)) {
          refusedForSpace++;
          continue;
        }
        const admitted = this.uploads.admit(session);
        if (admitted.evicted) {
          this.unbook(admitted.evicted);
          evicted.push(admitted.evicted);
        }
        if (admitted.refused) {
          refusal = admitted.refused;
          break;
        }
        this.space.tryBook(free, a.size); // fits: checked above, and nothing awaited since
        if (parked) this.parked.remove(parked);
        this.uploads.add({
          key,
          si: a.si,
          sh,
          upload: a.upload.slice(),
          size: a.size,
          pending: parked?.pending ?? this.backend.createPending(a.si, sh),
          written: parked ? parked.ranges.map(([x, y]): Range => [x, y]) : [],
          lastActive: now,
          queue: Promise.resolve(),
          renew: a.renew.slice(),
          cancel: a.cancel.slice(),
          done: false,
          session,
          orphanedAt: null,
          secretHash,
          received: 0,
          unsynced: 0,
          checkpointing: null,
          checkpointTimer: null,
        });
        allocated.push(sh);
        if (parked) {
          resumed++;
          have.set(
            sh,
            parked.ranges.map(([x, y]): Range => [x, y]),
          );
        }
      }
      for (const p of stale) await p.pending.discard();
      for (const b of evicted) await this.park(b);
      if (evicted.length) this.log(`set aside ${evicted.length} orphaned upload(s) to make room`);
      if (alreadyHave.length > 0) {
        await this.leaseImmutable(a.si, alreadyHave, this.leaseRequest(a.renew, a.cancel, OWNER_ALLOCATE));
      }
      if (allocated.length === 0 && alreadyHave.length === 0) {
        if (refusal === 'closed') throw new StorageError('UNAVAILABLE', 'the connection is closed');
        if (refusal === 'connection') {
          throw new StorageError(
            'UNAVAILABLE',
            `too many uploads in progress on this connection (at most ${this.uploads.limits.perConnection}); ` +
              'finish or abort some first',
          );
        }
        if (refusal === 'server') {
          throw new StorageError(
            'UNAVAILABLE',
            'the server has too many uploads in progress; try again later',
          );
        }
        if (refusedForSpace > 0) {
          throw new StorageError(
            'NO_SPACE',
            `server has ${this.space.available(free)} bytes available (after its reserved space); ` +
              `a share needs ${a.size}`,
          );
        }
      }
      const held = [...have.values()].reduce((n, r) => n + coveredBytes(r), 0);
      this.log(
        `allocate si=${siPrefix(a.si)} size=${a.size} new=${allocated.length} have=${alreadyHave.length}` +
          (have.size ? ` continued=${have.size} (${resumed} parked) holding=${held}` : '') +
          (refusedForSpace ? ` refused=${refusedForSpace} (space)` : '') +
          (refusal ? ` refused (${refusal} upload limit)` : ''),
      );
      return { alreadyHave, allocated, have, held: [...existing].sort((x, y) => x - y) };
    });
  }

  /** Waits until no bucket of these shares is being parked (so one that is, is found parked). */
  private async parkingDone(si: StorageIndex, shares: readonly ShareNum[]): Promise<void> {
    for (;;) {
      const busy = shares.map((sh) => this.parking.get(bucketKey(si, sh))).filter((p) => p !== undefined);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  /**
   * Deletes parked uploads, oldest first, until `needed` bytes are available or none is left
   * (never those of `keep`, the storage index being allocated). Returns the free bytes after.
   */
  private async makeRoom(needed: number, free: number, keep: StorageIndex): Promise<number> {
    let now = free;
    const keepKey = `${siKey(keep)}/`;
    for (const p of this.parked.all()) {
      if (this.space.available(now) >= needed) break;
      if (p.bucket.startsWith(keepKey)) continue;
      this.parked.remove(p);
      await p.pending.discard();
      now = await this.backend.freeBytes();
      this.log(`deleted an unfinished upload (${p.bytes} bytes) to make room`);
    }
    return now;
  }

  private bucketFor(si: StorageIndex, sh: ShareNum, upload: Uint8Array, session: UploadSession): Bucket {
    const b = this.uploads.get(bucketKey(si, sh));
    if (!b || b.done)
      throw new StorageError('NOT_FOUND', `no upload in progress for share ${sh} of ${siPrefix(si)}`);
    if (!equalBytes(b.upload, upload))
      throw new StorageError('BAD_SECRET', `wrong upload secret for share ${sh}`);
    this.uploads.touch(b, session, this.now());
    return b;
  }

  async write(a: WriteArgs, session: UploadSession): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload, session);
    const end = a.offset + a.data.length;
    if (end > b.size) {
      throw new StorageError(
        'TOO_LARGE',
        `write to ${a.offset}..${end} runs past the allocated ${b.size} bytes`,
      );
    }
    // One write at a time per bucket: the overlap check must see every earlier write.
    const task = b.queue.then(async () => {
      if (b.done) throw new StorageError('NOT_FOUND', `the upload of share ${a.sh} was closed or aborted`);
      if (countAfterAdd(b.written, a.offset, end) > L.MAX_BUCKET_RANGES) {
        throw new StorageError(
          'BAD_REQUEST',
          `writes to share ${a.sh} leave more than ${L.MAX_BUCKET_RANGES} separate pieces; write in order`,
        );
      }
      for (const [s, e] of overlaps(b.written, a.offset, end)) {
        const have = await b.pending.file.read(IMMUTABLE_HEADER_BYTES + s, e - s);
        if (!equalBytes(have, a.data.subarray(s - a.offset, e - a.offset))) {
          throw new StorageError(
            'CONFLICT',
            `write to share ${a.sh} at ${s} differs from data already written`,
          );
        }
      }
      await b.pending.file.write(IMMUTABLE_HEADER_BYTES + a.offset, a.data);
      addRange(b.written, a.offset, end);
      const now = this.now();
      b.lastActive = now;
      b.received += a.data.length;
      b.unsynced += a.data.length;
      if (b.unsynced >= this.checkpointBytes) void this.checkpoint(b);
      else this.checkpointLater(b);
    });
    b.queue = task.catch(() => {});
    return task;
  }

  /**
   * Makes the bytes a bucket has received durable and records which they are, so they
   * survive a crash or a restart. One checkpoint at a time per bucket: bytes written while
   * one runs are taken by the next, which its end starts (or schedules).
   */
  private checkpoint(b: Bucket): Promise<void> {
    if (b.checkpointing) return b.checkpointing;
    if (b.checkpointTimer) {
      clearTimeout(b.checkpointTimer);
      b.checkpointTimer = null;
    }
    if (b.done || b.unsynced === 0 || b.written.length === 0) return Promise.resolve();
    const ranges = b.written.map(([x, y]): Range => [x, y]);
    b.unsynced = 0;
    const run = b.pending
      .checkpoint(encodeUploadState(b, ranges, this.now()))
      // The state on disk stays the last one recorded whole: older, never wrong.
      .catch((err) => this.log(`checkpoint of an upload failed: ${(err as Error).message}`))
      .finally(() => {
        b.checkpointing = null;
        if (b.done || b.unsynced === 0) return;
        if (b.unsynced >= this.checkpointBytes) void this.checkpoint(b);
        else this.checkpointLater(b);
      });
    b.checkpointing = run;
    return run;
  }

  /** A checkpoint `checkpointMs` from now, unless one is due already. */
  private checkpointLater(b: Bucket): void {
    if (b.checkpointTimer || b.checkpointing || b.done) return;
    b.checkpointTimer = setTimeout(() => {
      b.checkpointTimer = null;
      void this.checkpoint(b);
    }, this.checkpointMs);
    b.checkpointTimer.unref?.();
  }

  async close(a: BucketArgs, session: UploadSession): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload, session);
    return this.locks.run(siKey(a.si), async () => {
      await b.queue;
      if (b.done) throw new StorageError('NOT_FOUND', `the upload of share ${a.sh} was closed or aborted`);
      const length = b.written.length === 0 ? 0 : b.written[0][1];
      if (b.written.length > 1 || (b.written.length === 1 && b.written[0][0] !== 0)) {
        throw new StorageError(
          'BAD_REQUEST',
          `share ${a.sh} has gaps: write every byte from 0 before closing`,
        );
      }
      await this.seal(b, length);
    });
  }

  /**
   * A write and the close after it, in one request: what a client sends for a share it holds
   * whole (every share of a small file). A bucket that received nothing yet gets its
   * container in one write (header, data, lease) instead of three; any other takes the
   * write and then the close. Either way the reply means what a close's does: the share is
   * durable and visible.
   */
  async writeAndClose(a: WriteArgs, session: UploadSession): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload, session);
    if (b.written.length > 0 || a.offset !== 0 || a.data.length > b.size) {
      await this.write(a, session);
      await this.close(a, session);
      return;
    }
    return this.locks.run(siKey(a.si), async () => {
      await b.queue;
      if (b.done) throw new StorageError('NOT_FOUND', `the upload of share ${a.sh} was closed or aborted`);
      if (b.written.length > 0) {
        // Written meanwhile by another request of the client's (which would not send both).
        throw new StorageError('CONFLICT', `share ${a.sh} was written meanwhile; write and close it apart`);
      }
      b.received += a.data.length;
      await this.seal(b, a.data.length, a.data);
    });
  }

  /**
   * Closes a bucket whose `length` bytes of share data are all written (or are `data`,
   * written here with the header and lease): the container is finished, made durable and
   * renamed into place. Caller holds the SI lock and has waited for the bucket's writes.
   */
  private async seal(b: Bucket, length: number, data?: Uint8Array): Promise<void> {
    b.done = true;
    this.unbook(b);
    await b.checkpointing;
    const lease = newLease(b.renew, b.cancel, this.leaseExpiry(), undefined, OWNER_ALLOCATE);
    const leases = encodeImmutableLeases([lease]);
    try {
      if (data) {
        const container = new Uint8Array(IMMUTABLE_HEADER_BYTES + length + leases.length);
        container.set(encodeImmutableHeader(length, 1));
        container.set(data, IMMUTABLE_HEADER_BYTES);
        container.set(leases, IMMUTABLE_HEADER_BYTES + length);
        await b.pending.file.write(0, container);
      } else {
        await b.pending.file.write(0, encodeImmutableHeader(length, 1));
        await b.pending.file.write(IMMUTABLE_HEADER_BYTES + length, leases);
      }
      // Also cuts what a write that failed half way may have left past the end.
      await b.pending.file.truncate(IMMUTABLE_HEADER_BYTES + length + IMMUTABLE_LEASE_BYTES);
      await b.pending.commit();
    } catch (err) {
      await b.pending.discard();
      throw err;
    }
    // Unfinished uploads of this share by other secrets are of no more use.
    for (const p of this.parked.forBucket(b.key)) {
      this.parked.remove(p);
      await p.pending.discard();
    }
    // received: what this bucket took since it was last granted (an upload resumed sends less).
    this.log(`close si=${siPrefix(b.si)} sh=${b.sh} bytes=${length} received=${b.received}`);
  }

  async abort(a: BucketArgs, session: UploadSession): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload, session);
    await this.dropBucket(b);
    this.log(`abort si=${siPrefix(a.si)} sh=${a.sh}`);
  }

  /** Takes a bucket out of the table and gives back its space (synchronously). */
  private unbook(b: Bucket): void {
    b.done = true;
    if (b.checkpointTimer) {
      clearTimeout(b.checkpointTimer);
      b.checkpointTimer = null;
    }
    this.uploads.remove(b);
    this.space.release(b.size);
  }

  private async discard(b: Bucket): Promise<void> {
    await b.queue;
    await b.checkpointing;
    await b.pending.discard();
  }

  private async dropBucket(b: Bucket): Promise<void> {
    if (b.done) return;
    this.unbook(b);
    await this.discard(b);
  }

  /**
   * Sets an unbooked bucket aside for its client to resume: what it received is made
   * durable, its handle closed, and it waits in the parked table (or, with nothing written,
   * is simply dropped). An allocate of the same share waits until this is done.
   */
  private park(b: Bucket): Promise<void> {
    const run = (async () => {
      await b.queue;
      await b.checkpointing;
      if (b.written.length === 0) {
        await b.pending.discard();
        return;
      }
      const ranges = b.written.map(([x, y]): Range => [x, y]);
      const at = this.now();
      try {
        await b.pending.checkpoint(encodeUploadState(b, ranges, at));
        await b.pending.release();
      } catch (err) {
        this.log(`could not set an unfinished upload aside: ${(err as Error).message}`);
        await b.pending.discard().catch(() => {});
        return;
      }
      await this.keepParked({
        key: parkedKey(b.key, b.secretHash),
        bucket: b.key,
        si: b.si,
        sh: b.sh,
        secretHash: b.secretHash,
        size: b.size,
        ranges,
        parkedAt: at,
        bytes: IMMUTABLE_HEADER_BYTES + ranges[ranges.length - 1][1],
        pending: b.pending,
      });
    })();
    const done = run.finally(() => {
      if (this.parking.get(b.key) === done) this.parking.delete(b.key);
    });
    this.parking.set(b.key, done);
    return done;
  }

  private async keepParked(p: ParkedUpload): Promise<void> {
    for (const gone of this.parked.add(p)) {
      if (gone !== p) this.log(`deleted an unfinished upload (${gone.bytes} bytes): too many kept`);
      await gone.pending.discard().catch((err) => this.log(`could not delete an upload: ${err.message}`));
    }
  }

  /** Takes back what earlier runs checkpointed, oldest first; drops what is unreadable or too old. */
  private async recoverUploads(found: RecoveredUpload[]): Promise<void> {
    const now = this.now();
    const kept: ParkedUpload[] = [];
    for (const r of found) {
      const st = decodeUploadState(r.state);
      const ok =
        st &&
        equalBytes(st.si, r.si) &&
        st.sh === r.sh &&
        now - st.at < this.parked.limits.ttlMs &&
        st.ranges.length > 0 &&
        // The data was made durable before its state: a shorter file is not ours to trust.
        IMMUTABLE_HEADER_BYTES + st.ranges[st.ranges.length - 1][1] <= r.bytes;
      if (!st || !ok) {
        await r.pending.discard();
        continue;
      }
      const key = bucketKey(r.si, r.sh);
      kept.push({
        key: parkedKey(key, st.secretHash),
        bucket: key,
        si: r.si,
        sh: r.sh,
        secretHash: st.secretHash,
        size: st.size,
        ranges: st.ranges,
        parkedAt: st.at,
        bytes: r.bytes,
        pending: r.pending,
      });
    }
    kept.sort((x, y) => x.parkedAt - y.parkedAt);
    for (const p of kept) await this.keepParked(p);
    if (found.length) {
      this.log(
        `kept ${this.parked.size} unfinished upload(s) from before the restart, for their clients to resume`,
      );
    }
  }

  /**
   * Parks orphaned uploads past their grace and uploads nobody touched for the idle
   * timeout: they stop holding slots, and their clients can still resume them.
   */
  async parkIdleUploads(): Promise<number> {
    const expired = this.uploads.expired(this.now());
    for (const b of expired) {
      if (b.done) continue;
      this.unbook(b);
      await this.park(b);
    }
    if (expired.length) this.log(`set aside ${expired.length} idle or orphaned upload(s)`);
    return expired.length;
  }

  /** Deletes parked uploads past their age. */
  async expireParked(): Promise<number> {
    const old = this.parked.expired(this.now());
    for (const p of old) {
      this.parked.remove(p);
      await p.pending.discard();
    }
    if (old.length) this.log(`deleted ${old.length} unfinished upload(s) nobody resumed in time`);
    return old.length;
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
  async readImmutable(a: ReadArgs, place?: (n: number) => Uint8Array): Promise<Uint8Array> {
    const h = await this.readers.acquire(a.si, a.sh);
    try {
      const n = a.offset >= h.dataLength ? 0 : Math.min(a.length, h.dataLength - a.offset);
      const target = place ? place(n) : new Uint8Array(n);
      const got = await h.file.readInto(IMMUTABLE_HEADER_BYTES + a.offset, target);
      if (got !== n) throw new Error('immutable share is shorter than its header says');
      return target;
    } finally {
      this.readers.release(h);
    }
  }

  // ---- leases -------------------------------------------------------------------------

  addLease(a: LeaseArgs): Promise<void> {
    return this.locks.run(siKey(a.si), async () => {
      const imm = await this.backend.listShares('immutable', a.si);
      await this.leaseImmutable(a.si, imm, this.leaseRequest(a.renew, a.cancel, OWNER_LEASE));
      const mut = await this.mutable.leaseAll(
        a.si,
        this.leaseRequest(a.renew, a.cancel, OWNER_LEASE, this.nodeId),
      );
      if (imm.length + mut === 0) throw new StorageError('NOT_FOUND', `no shares of ${siPrefix(a.si)} here`);
    });
  }

  /**
   * Adds or renews a lease on immutable shares, in place, as Tahoe's ShareFile does: a
   * renewal rewrites 4 bytes (the expiry), a new lease appends its record and then bumps
   * the header's count. Caller holds the SI lock.
   */
  private async leaseImmutable(si: StorageIndex, shares: ShareNum[], req: LeaseRequest): Promise<void> {
    for (const sh of shares) {
      const f = await this.backend.openShare('immutable', si, sh, true);
      if (!f) continue;
      const { layout, leases } = await readImmutableLeases(f);
      const u = addOrRenewLease(leases, leaseFor(req, layout.version));
      if (u.changed === null) continue;
      const at = layout.leaseOffset + u.changed * IMMUTABLE_LEASE_BYTES;
      const lease = u.leases[u.changed];
      if (!lease) continue; // immutable containers have no empty slots
      const record = encodeImmutableLeases([lease]);
      if (u.how === 'renewed') {
        await f.write(at + 68, record.subarray(68)); // the expiry
      } else {
        await f.write(at, record);
      }
      if (u.how === 'added') {
        // The record must be on disk before the count that makes it part of the share.
        await f.sync();
        await f.write(IMMUTABLE_LEASE_COUNT_OFFSET, encodeLeaseCount(u.leases.length));
      }
      await f.sync();
    }
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
          uploadInProgress: (s, sh) => this.uploadInProgress(s, sh),
          forgetReader: (s, sh) => this.readers.forget(s, sh),
          log: this.log,
        },
        si,
        policy,
      ),
    );
  }

  /**
   * Whether an upload of this share is in progress: the lease crawler never deletes a share
   * then (any upload that could create or resume this share belongs here).
   */
  private uploadInProgress(si: StorageIndex, sh: ShareNum): boolean {
    return this.uploads.get(bucketKey(si, sh)) !== undefined;
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
        for (const sh of await this.backend.listShares('immutable', si)) {
          const f = await this.backend.openShare('immutable', si, sh, true);
          if (!f) continue;
          const { layout, leases } = await readImmutableLeases(f);
          const live = leases.filter((l) => l.expires > nowSecs);
          if (live.length === leases.length && live.length > 0) continue;
          leasesRemoved += leases.length - live.length;
          if (live.length === 0) {
            this.readers.forget(si, sh);
            await this.backend.deleteShare('immutable', si, sh);
            sharesDeleted++;
            continue;
          }
          // Tahoe's cancel_lease: the kept records moved up in order, then the count, then the cut.
          await f.write(layout.leaseOffset, encodeImmutableLeases(live));
          await f.write(IMMUTABLE_LEASE_COUNT_OFFSET, encodeLeaseCount(live.length));
          await f.truncate(layout.leaseOffset + live.length * IMMUTABLE_LEASE_BYTES);
          await f.sync();
        }
        const m = await this.mutable.expireByTime(si, nowSecs);
        leasesRemoved += m.leasesRemoved;
        sharesDeleted += m.sharesDeleted;
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

  readMutable(a: ReadArgs): Promise<Uint8Array> {
    return this.mutable.read(a);
  }

  /** Tahoe's slot_testv_and_readv_and_writev (tahoe-formats §7.3), all-or-nothing. */
  readTestWrite(a: ReadTestWriteArgs): Promise<{ success: boolean; data: Map<ShareNum, Uint8Array[]> }> {
    return this.mutable.readTestWrite(a, this.leaseRequest(a.renew, a.cancel, OWNER_LEASE, this.nodeId));
  }
}

async function readImmutableLeases(f: ShareFile) {
  const layout = immutableLayout(await f.read(0, IMMUTABLE_HEADER_BYTES), await f.size());
  const leases = decodeImmutableLeases(
    await f.read(layout.leaseOffset, layout.leaseCount * IMMUTABLE_LEASE_BYTES),
  );
  return { layout, leases };
}

function bucketKey(si: StorageIndex, sh: ShareNum): string {
  return `${siKey(si)}/${sh}`;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function parkedKey(bucket: string, secretHash: Uint8Array): string {
  let hex = '';
  for (const b of secretHash) hex += b.toString(16).padStart(2, '0');
  return `${bucket}/${hex}`;
}

/** What a checkpoint records beside an upload's data: whose it is and which bytes are durable. */
interface UploadState {
  si: Uint8Array;
  sh: number;
  secretHash: Uint8Array;
  size: number;
  at: number;
  ranges: Range[];
}

const MAX_STATE_RANGES = L.MAX_BUCKET_RANGES;

function encodeUploadState(b: Bucket, ranges: Range[], at: number): Uint8Array {
  return encodeCbor({ v: 1, si: b.si, sh: b.sh, secret: b.secretHash, size: b.size, at, ranges });
}

/** A checkpoint's state, or null if it is not one this version wrote. */
function decodeUploadState(bytes: Uint8Array): UploadState | null {
  try {
    const f = new Fields(decodeCbor(bytes, L.MAX_FRAME_BYTES), 'upload state');
    if (f.uint('v', 1) !== 1) return null;
    const size = f.uint('size', L.MAX_IMMUTABLE_SHARE_BYTES);
    const ranges = f.array('ranges', MAX_STATE_RANGES) as Range[];
    if (!isCanonical(ranges, size)) return null;
    return {
      si: f.bytes('si', L.STORAGE_INDEX_BYTES).slice(),
      sh: f.uint('sh', L.MAX_SHNUM),
      secretHash: f.bytes('secret', 32).slice(),
      size,
      at: f.uint('at', Number.MAX_SAFE_INTEGER),
      ranges: ranges.map(([x, y]): Range => [x, y]),
    };
  } catch {
    return null;
  }
}
