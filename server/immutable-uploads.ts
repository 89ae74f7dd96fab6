/**
 * Immutable uploads, from allocate to close: buckets written at any offset and checked
 * against what they already hold, checkpoints that make received bytes durable, uploads
 * parked when their connection goes or they sit idle (and taken back by an allocate with
 * the same secret, also after a restart), and the space they book. The tables are in
 * uploads.ts, what a checkpoint records in upload-state.ts.
 */
import { concatBytes, equalBytes } from '../core/primitives/bytes.ts';
import type { AllocateArgs, BucketArgs, PutFile, WriteArgs } from '../core/protocol/frames.ts';
import * as L from '../core/protocol/limits.ts';
import { type AllocateResult, StorageError, type WholeSharesResult } from '../core/protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { RecoveredUpload, ShareBackend } from './backends/backend.ts';
import { IMMUTABLE_HEADER_BYTES, newLease, OWNER_ALLOCATE } from './containers.ts';
import type { KeyedLock } from './keyed-lock.ts';
import { addRange, countAfterAdd, coveredBytes, overlaps, type Range } from './ranges.ts';
import { siKey, siPrefix } from './si.ts';
import type { SpaceLedger } from './space.ts';
import { bucketKey, decodeUploadState, encodeUploadState, parkedKey, sha256 } from './upload-state.ts';
import {
  type Bucket,
  type ParkedLimits,
  type ParkedUpload,
  ParkedTable,
  type QueuedWrite,
  type Refusal,
  type UploadLimits,
  type UploadSession,
  UploadTable,
} from './uploads.ts';

/**
 * Consecutive writes smaller than this go to a bucket's file together, up to MAX_COALESCED_BYTES
 * at once (copied into one buffer); larger ones go alone, as the copy would cost about what
 * the file write it saves does.
 */
const COALESCE_BELOW = 128 * 1024;
const MAX_COALESCED_BYTES = 1024 * 1024;

/** Whether small write `w` starts where `run` (of small writes) ends, and fits in it. */
function continuesRun(run: readonly QueuedWrite[], w: QueuedWrite): boolean {
  const first = run[0];
  const last = run[run.length - 1];
  return (
    first !== undefined &&
    first.data.length < COALESCE_BELOW &&
    w.data.length < COALESCE_BELOW &&
    w.offset === last.offset + last.data.length &&
    w.offset + w.data.length - first.offset <= MAX_COALESCED_BYTES
  );
}

export interface ImmutableUploadsOptions {
  backend: ShareBackend;
  /** The server's per-storage-index lock (shared with leases and mutable slots). */
  locks: KeyedLock;
  space: SpaceLedger;
  now: () => number;
  log: (line: string) => void;
  /** When a lease given now expires, in seconds since the epoch. */
  leaseExpiry: () => number;
  /** Adds or renews the allocating client's lease on shares already here (the SI lock is held). */
  leaseExisting: (
    si: StorageIndex,
    shares: ShareNum[],
    renew: Uint8Array,
    cancel: Uint8Array,
  ) => Promise<void>;
  uploads: UploadLimits;
  parked: ParkedLimits;
  /** Checkpoint a bucket after this many written bytes or this long. */
  checkpointBytes: number;
  checkpointMs: number;
}

export class ImmutableUploads {
  private readonly backend: ShareBackend;
  private readonly locks: KeyedLock;
  private readonly space: SpaceLedger;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly leaseExpiry: () => number;
  private readonly leaseExisting: ImmutableUploadsOptions['leaseExisting'];
  private readonly uploads: UploadTable;
  private readonly parked: ParkedTable;
  /** Buckets being parked, by bucket key: an allocate of the same share waits for them. */
  private readonly parking = new Map<string, Promise<void>>();
  private readonly checkpointBytes: number;
  private readonly checkpointMs: number;

  constructor(opts: ImmutableUploadsOptions) {
    this.backend = opts.backend;
    this.locks = opts.locks;
    this.space = opts.space;
    this.now = opts.now;
    this.log = opts.log;
    this.leaseExpiry = opts.leaseExpiry;
    this.leaseExisting = opts.leaseExisting;
    this.uploads = new UploadTable(opts.uploads);
    this.parked = new ParkedTable(opts.parked);
    this.checkpointBytes = opts.checkpointBytes;
    this.checkpointMs = opts.checkpointMs;
  }

  get limits(): UploadLimits {
    return this.uploads.limits;
  }

  /** Sets every upload in progress aside (the server is stopping: they stay resumable across a restart). */
  async parkAll(): Promise<void> {
    for (const b of this.uploads.all()) {
      this.unbook(b);
      await this.park(b);
    }
    await Promise.all(this.parking.values());
  }

  /** The connection closed: its uploads wait the grace period for the client to reconnect. */
  closeSession(session: UploadSession): void {
    this.uploads.close(session, this.now());
  }

  counts(): { inProgress: number; orphaned: number; parked: number; parkedBytes: number } {
    return {
      inProgress: this.uploads.size,
      orphaned: this.uploads.orphanCount,
      parked: this.parked.size,
      parkedBytes: this.parked.bytes,
    };
  }

  /**
   * Whether an upload of this share is in progress: the lease crawler never deletes a share
   * then (any upload that could create or resume this share belongs here).
   */
  inProgress(si: StorageIndex, sh: ShareNum): boolean {
    return this.uploads.get(bucketKey(si, sh)) !== undefined;
  }

  /** `quiet`: no log line (a put logs one for its batch). */
  allocate(a: AllocateArgs, session: UploadSession, quiet = false): Promise<AllocateResult> {
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
          pending: parked?.pending ?? this.backend.createPending(a.si, sh, a.size),
          written: parked ? parked.ranges.map(([x, y]): Range => [x, y]) : [],
          lastActive: now,
          queue: Promise.resolve(),
          waiting: [],
          draining: false,
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
        await this.leaseExisting(a.si, alreadyHave, a.renew, a.cancel);
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
      if (!quiet)
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
    const done = new Promise<void>((resolve, reject) =>
      b.waiting.push({ offset: a.offset, data: a.data, resolve, reject }),
    );
    if (!b.draining) {
      b.draining = true;
      b.queue = b.queue.then(() => this.drain(b)).catch(() => {});
    }
    return done;
  }

  /**
   * Applies a bucket's queued writes in arrival order, one file write at a time (the overlap
   * check must see every earlier write). Small writes that continue one another and touch
   * nothing written before go to the file together: a client writing small blocks with many
   * in flight (Tahoe's own uploader writes one block per request) would otherwise cost a file
   * write and a thread-pool round trip each.
   */
  private async drain(b: Bucket): Promise<void> {
    try {
      while (b.waiting.length > 0) {
        let run: QueuedWrite[] = [];
        for (const w of b.waiting.splice(0)) {
          if (continuesRun(run, w) && overlaps(b.written, w.offset, w.offset + w.data.length).length === 0) {
            run.push(w);
            continue;
          }
          await this.writeRun(b, run);
          run = [];
          try {
            await this.checkWrite(b, w.offset, w.data);
          } catch (err) {
            w.reject(err);
            continue;
          }
          run.push(w);
        }
        await this.writeRun(b, run);
      }
    } finally {
      b.draining = false;
    }
  }

  /** Refuses a write the bucket cannot take; where it overlaps earlier writes, it must repeat them. */
  private async checkWrite(b: Bucket, offset: number, data: Uint8Array): Promise<void> {
    const end = offset + data.length;
    if (b.done) throw new StorageError('NOT_FOUND', `the upload of share ${b.sh} was closed or aborted`);
    if (countAfterAdd(b.written, offset, end) > L.MAX_BUCKET_RANGES) {
      throw new StorageError(
        'BAD_REQUEST',
        `writes to share ${b.sh} leave more than ${L.MAX_BUCKET_RANGES} separate pieces; write in order`,
      );
    }
    for (const [s, e] of overlaps(b.written, offset, end)) {
      const have = await b.pending.file.read(IMMUTABLE_HEADER_BYTES + s, e - s);
      if (!equalBytes(have, data.subarray(s - offset, e - offset))) {
        throw new StorageError(
          'CONFLICT',
          `write to share ${b.sh} at ${s} differs from data already written`,
        );
      }
    }
  }

  /** Writes checked writes that continue one another as one, and answers each. */
  private async writeRun(b: Bucket, run: readonly QueuedWrite[]): Promise<void> {
    if (run.length === 0) return;
    const start = run[0].offset;
    const data = run.length === 1 ? run[0].data : concatBytes(...run.map((w) => w.data));
    try {
      if (b.done) throw new StorageError('NOT_FOUND', `the upload of share ${b.sh} was closed or aborted`);
      await b.pending.file.write(IMMUTABLE_HEADER_BYTES + start, data);
    } catch (err) {
      for (const w of run) w.reject(err);
      return;
    }
    addRange(b.written, start, start + data.length);
    b.lastActive = this.now();
    b.received += data.length;
    b.unsynced += data.length;
    if (b.unsynced >= this.checkpointBytes) void this.checkpoint(b);
    else this.checkpointLater(b);
    for (const w of run) w.resolve();
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

  async close(a: BucketArgs, session: UploadSession, quiet = false): Promise<void> {
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
      await this.seal(b, length, undefined, quiet);
    });
  }

  /**
   * A write and the close after it, in one request: what a client sends for a share it holds
   * whole (every share of a small file). A bucket that received nothing yet has the backend
   * write its share whole at commit (on disk: the container in one write); any other takes
   * the write and then the close. Either way the reply means what a close's does: the share
   * is durable and visible.
   */
  async writeAndClose(a: WriteArgs, session: UploadSession, quiet = false): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload, session);
    if (b.written.length > 0 || a.offset !== 0 || a.data.length > b.size) {
      await this.write(a, session);
      await this.close(a, session, quiet);
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
      await this.seal(b, a.data.length, a.data, quiet);
    });
  }

  /**
   * Several small files' shares, each allocated, written whole and closed (`put`): one
   * request for a batch of small files instead of two per file. Files are independent: one
   * refused or failing takes nothing from the others. Their commits run at once, so the
   * backend can make them durable together. One log line for the batch.
   */
  async put(files: readonly PutFile[], session: UploadSession): Promise<WholeSharesResult[]> {
    const results = await Promise.all(files.map((f) => this.putFile(f, session)));
    const count = (pick: (r: WholeSharesResult) => ShareNum[]) =>
      results.reduce((n, r) => n + pick(r).length, 0);
    const refused = results.filter((r) => r.refused !== undefined).length;
    this.log(
      `put files=${files.length} stored=${count((r) => r.stored)} have=${count((r) => r.alreadyHave)}` +
        (refused ? ` refused=${refused}` : ''),
    );
    return results;
  }

  private async putFile(f: PutFile, session: UploadSession): Promise<WholeSharesResult> {
    const shares = [...f.shares.keys()];
    let r: AllocateResult;
    try {
      r = await this.allocate(
        { si: f.si, renew: f.renew, cancel: f.cancel, upload: f.upload, shares, size: f.size },
        session,
        true,
      );
    } catch (err) {
      return { alreadyHave: [], stored: [], held: [], refused: this.refusal(err) };
    }
    const stored: ShareNum[] = [];
    let refused: string | undefined;
    for (const sh of r.allocated) {
      const data = f.shares.get(sh) as Uint8Array;
      try {
        await this.writeAndClose({ si: f.si, sh, upload: f.upload, offset: 0, data }, session, true);
        stored.push(sh);
      } catch (err) {
        refused = this.refusal(err);
        // A bucket left open by a failed write goes now, not when the connection does.
        const b = this.uploads.get(bucketKey(f.si, sh));
        if (b && equalBytes(b.upload, f.upload)) await this.dropBucket(b);
      }
    }
    if (refused === undefined && stored.length + r.alreadyHave.length < shares.length) {
      refused = 'some shares were not taken (no space, upload limits, or another upload of them in progress)';
    }
    return { alreadyHave: r.alreadyHave, stored, held: r.held ?? [], ...(refused ? { refused } : {}) };
  }

  /** What a put tells the client of a file it could not store. */
  private refusal(err: unknown): string {
    if (err instanceof StorageError) return err.message.slice(0, 1000);
    this.log(`internal error in put: ${(err as Error).message}`);
    return 'the server failed to store it; try another server';
  }

  /**
   * Closes a bucket whose `length` bytes of share data are all written (or are `data`, given
   * to the backend whole): the share is committed, durable and visible. Caller holds the SI
   * lock and has waited for the bucket's writes.
   */
  private async seal(b: Bucket, length: number, data?: Uint8Array, quiet = false): Promise<void> {
    b.done = true;
    this.unbook(b);
    await b.checkpointing;
    const lease = newLease(b.renew, b.cancel, this.leaseExpiry(), undefined, OWNER_ALLOCATE);
    try {
      await b.pending.commit({ dataLength: length, leases: [lease], data });
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
    if (!quiet) this.log(`close si=${siPrefix(b.si)} sh=${b.sh} bytes=${length} received=${b.received}`);
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
  async recover(found: RecoveredUpload[]): Promise<void> {
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
}
