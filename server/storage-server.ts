/**
 * The storage server's logic, after Tahoe's storage/server.py: immutable buckets that are
 * written once and made durable on close, mutable slots (mutable-slots.ts), leases,
 * corruption advisories, reserved space. No I/O of its own beyond the ShareBackend; the
 * clock is injected so tests can move time.
 *
 * Nothing one client does may stop the server serving others: uploads in progress are
 * bounded per connection and in total and end with their connection (uploads.ts), file
 * handles are bounded (the backend's handle budget), leases per share are capped
 * (leases.ts), advisories are bounded (advisories.ts), and space is booked atomically
 * (space.ts) for uploads and mutable writes alike.
 */
import { base32Encode } from '../core/primitives/base32.ts';
import { equalBytes } from '../core/primitives/bytes.ts';
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
import type { ShareBackend, ShareFile } from './backend.ts';
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
import { addRange, overlaps } from './ranges.ts';
import { ReaderCache } from './reader-cache.ts';
import { siKey, siPrefix } from './si.ts';
import { SpaceLedger } from './space.ts';
import { type Bucket, type Refusal, UploadSession, UploadTable } from './uploads.ts';

export { siPrefix } from './si.ts';
export { UploadSession } from './uploads.ts';

export const LEASE_DURATION_MS = 31 * 24 * 3600 * 1000;
export const APPLICATION_VERSION = 'cairn/0.1.0';
/** Uploads in progress at once, all connections together (they hold no file until written). */
export const MAX_PENDING_UPLOADS = 8192;
/** How long the uploads of a closed connection wait for their client to reconnect. */
export const UPLOAD_GRACE_MS = 30_000;

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
    await this.mutable.recover();
    this.advisories.load(await this.backend.advisoryNames());
    const { graceMs, idleMs } = this.uploads.limits;
    this.sweeper = setInterval(
      () => {
        void this.abortIdleUploads();
        void this.readers.closeIdle();
      },
      Math.min(30_000, idleMs, graceMs),
    );
    this.sweeper.unref?.();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.readers.closeAll();
    for (const b of this.uploads.all()) await this.dropBucket(b);
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

  /** Uploads in progress, and how many of them lost their connection (white-box figures for tests). */
  uploadCounts(): { inProgress: number; orphaned: number } {
    return { inProgress: this.uploads.size, orphaned: this.uploads.orphanCount };
  }

  // ---- immutable ----------------------------------------------------------------------

  allocate(a: AllocateArgs, session: UploadSession): Promise<AllocateResult> {
    return this.locks.run(siKey(a.si), async () => {
      const existing = new Set(await this.backend.listShares('immutable', a.si));
      const free = await this.backend.freeBytes();
      // From here to the end of the loop nothing awaits: each check and its booking are
      // one step, so concurrent allocations cannot both be promised the same bytes or slots.
      const now = this.now();
      const alreadyHave: ShareNum[] = [];
      const allocated: ShareNum[] = [];
      const evicted: Bucket[] = [];
      let refusedForSpace = 0;
      let refusal: Refusal | null = null;
      for (const sh of a.shares) {
        if (existing.has(sh)) {
          alreadyHave.push(sh);
          continue;
        }
        const key = bucketKey(a.si, sh);
        const held = this.uploads.get(key);
        if (held) {
          // Idempotent for the same upload; another upload's bucket is busy (neither list).
          if (equalBytes(held.upload, a.upload)) {
            this.uploads.touch(held, session, now);
            allocated.push(sh);
          }
          continue;
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
        this.uploads.add({
          key,
          si: a.si,
          sh,
          upload: a.upload.slice(),
          size: a.size,
          pending: this.backend.createPending(a.si, sh),
          written: [],
          lastActive: now,
          queue: Promise.resolve(),
          renew: a.renew.slice(),
          cancel: a.cancel.slice(),
          done: false,
          session,
          orphanedAt: null,
        });
        allocated.push(sh);
      }
      for (const b of evicted) await this.discard(b);
      if (evicted.length) this.log(`aborted ${evicted.length} orphaned upload(s) to make room`);
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
      this.log(
        `allocate si=${siPrefix(a.si)} size=${a.size} new=${allocated.length} have=${alreadyHave.length}` +
          (refusedForSpace ? ` refused=${refusedForSpace} (space)` : '') +
          (refusal ? ` refused (${refusal} upload limit)` : ''),
      );
      return { alreadyHave, allocated };
    });
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
      b.lastActive = this.now();
    });
    b.queue = task.catch(() => {});
    return task;
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
      b.done = true;
      this.unbook(b);
      const lease = newLease(b.renew, b.cancel, this.leaseExpiry(), undefined, OWNER_ALLOCATE);
      try {
        await b.pending.file.write(0, encodeImmutableHeader(length, 1));
        await b.pending.file.write(IMMUTABLE_HEADER_BYTES + length, encodeImmutableLeases([lease]));
        await b.pending.file.truncate(IMMUTABLE_HEADER_BYTES + length + IMMUTABLE_LEASE_BYTES);
        await b.pending.commit();
      } catch (err) {
        await b.pending.discard();
        throw err;
      }
      this.log(`close si=${siPrefix(a.si)} sh=${a.sh} bytes=${length}`);
    });
  }

  async abort(a: BucketArgs, session: UploadSession): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload, session);
    await this.dropBucket(b);
    this.log(`abort si=${siPrefix(a.si)} sh=${a.sh}`);
  }

  /** Takes a bucket out of the table and gives back its space (synchronously). */
  private unbook(b: Bucket): void {
    b.done = true;
    this.uploads.remove(b);
    this.space.release(b.size);
  }

  private async discard(b: Bucket): Promise<void> {
    await b.queue;
    await b.pending.discard();
  }

  private async dropBucket(b: Bucket): Promise<void> {
    if (b.done) return;
    this.unbook(b);
    await this.discard(b);
  }

  /** Aborts orphaned uploads past their grace and uploads nobody touched for the idle timeout. */
  async abortIdleUploads(): Promise<number> {
    const expired = this.uploads.expired(this.now());
    for (const b of expired) await this.dropBucket(b);
    if (expired.length) this.log(`aborted ${expired.length} idle or orphaned upload(s)`);
    return expired.length;
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
