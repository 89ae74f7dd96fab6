/**
 * The storage server's logic, after Tahoe's storage/server.py: immutable buckets that are
 * written once and made durable on close, mutable slots with test-and-write vectors and
 * write enablers, leases, reserved space. No I/O of its own beyond the ShareBackend; the
 * clock is injected so tests can move time.
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
import type { PendingShare, ShareBackend, ShareFile } from './backend.ts';
import {
  addOrRenewLease,
  containerKind,
  decodeExtraLeases,
  decodeImmutableLeases,
  decodeMutableHeader,
  encodeExtraLeases,
  encodeImmutableHeader,
  encodeImmutableLeases,
  encodeMutableHeader,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  immutableLayout,
  type Lease,
  MUTABLE_DATA_OFFSET,
  type MutableHeader,
  newLease,
  type ShareKind,
} from './containers.ts';
import { KeyedLock } from './keyed-lock.ts';
import { ReaderCache } from './reader-cache.ts';
import { addRange, overlaps, type Range } from './ranges.ts';

export const LEASE_DURATION_MS = 31 * 24 * 3600 * 1000;
export const APPLICATION_VERSION = 'cairn/0.1.0';
/** Uploads in progress at once (each holds an open file). */
export const MAX_OPEN_BUCKETS = 4096;

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
  /** Run the lease expirer this often (default: never, as in Tahoe). */
  expireLeasesEveryMs?: number;
  /** Log lines for the operator; never given caps or plaintext (the server has neither). */
  log?: (line: string) => void;
}

interface Bucket {
  key: string;
  si: StorageIndex;
  sh: ShareNum;
  upload: Uint8Array;
  size: number;
  pending: PendingShare;
  written: Range[];
  lastActive: number;
  queue: Promise<void>;
  renew: Uint8Array;
  cancel: Uint8Array;
  done: boolean;
}

/** A storage index as the logs show it: a prefix, enough to correlate, short of the whole. */
export function siPrefix(si: StorageIndex): string {
  return `${base32Encode(si).slice(0, 6)}…`;
}

export class StorageServer {
  private readonly backend: ShareBackend;
  private readonly nodeId: Uint8Array;
  private readonly reserved: number;
  private readonly now: () => number;
  private readonly idleMs: number;
  private readonly log: (line: string) => void;
  private readonly buckets = new Map<string, Bucket>();
  private readonly locks = new KeyedLock();
  private inFlightAllocation = 0;
  /** Open handles of recently read immutable shares (their data never changes once closed). */
  private readonly readers: ReaderCache;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private expirer: ReturnType<typeof setInterval> | undefined;
  private readonly expireEveryMs: number | undefined;

  constructor(opts: StorageServerOptions) {
    this.backend = opts.backend;
    this.nodeId = opts.nodeId;
    this.reserved = opts.reservedSpace ?? 0;
    this.now = opts.now ?? Date.now;
    this.idleMs = opts.uploadIdleTimeoutMs ?? 10 * 60 * 1000;
    this.log = opts.log ?? (() => {});
    this.expireEveryMs = opts.expireLeasesEveryMs;
    this.readers = new ReaderCache(async (si, sh) => {
      const f = await this.backend.openShare(si, sh, false);
      if (!f) throw new StorageError('NOT_FOUND', `no immutable share ${sh} of ${siPrefix(si)} here`);
      try {
        const head = await f.read(0, IMMUTABLE_HEADER_BYTES);
        if (containerKind(head) !== 'immutable') {
          throw new StorageError('NOT_FOUND', `no immutable share ${sh} of ${siPrefix(si)} here`);
        }
        return { file: f, dataLength: immutableLayout(head, await f.size()).dataLength };
      } catch (err) {
        await f.close();
        throw err;
      }
    });
  }

  async start(): Promise<void> {
    await this.backend.init();
    this.sweeper = setInterval(
      () => {
        void this.abortIdleUploads();
        void this.readers.closeIdle();
      },
      Math.min(30_000, this.idleMs),
    );
    this.sweeper.unref?.();
    if (this.expireEveryMs) {
      this.expirer = setInterval(() => {
        this.expireLeases().catch((err) => this.log(`lease expiry failed: ${(err as Error).message}`));
      }, this.expireEveryMs);
      this.expirer.unref?.();
    }
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.expirer) clearInterval(this.expirer);
    await this.readers.closeAll();
    for (const b of [...this.buckets.values()]) await this.dropBucket(b);
  }

  /** Free space minus reserved space minus space promised to uploads in progress. */
  async availableSpace(): Promise<number> {
    const free = await this.backend.freeBytes();
    return Math.max(0, free - this.reserved - this.inFlightAllocation);
  }

  async version(): Promise<ServerVersion> {
    return {
      maximumImmutableShareSize: Math.min(L.MAX_IMMUTABLE_SHARE_BYTES, await this.availableSpace()),
      maximumMutableShareSize: L.MAX_MUTABLE_SHARE_BYTES,
      availableSpace: await this.availableSpace(),
      applicationVersion: APPLICATION_VERSION,
    };
  }

  private leaseExpiry(): number {
    return Math.floor((this.now() + LEASE_DURATION_MS) / 1000);
  }

  // ---- immutable ----------------------------------------------------------------------

  allocate(a: AllocateArgs): Promise<AllocateResult> {
    return this.locks.run(lockKey(a.si), async () => {
      const existing = await this.sharesOfKind(a.si, 'immutable');
      // A share file of the other kind is never replaced by an upload.
      const taken = await this.sharesOfKind(a.si, 'mutable');
      const alreadyHave: ShareNum[] = [];
      const allocated: ShareNum[] = [];
      let refusedForSpace = 0;
      let space = await this.availableSpace();
      for (const sh of a.shares) {
        if (existing.includes(sh)) {
          alreadyHave.push(sh);
          continue;
        }
        if (taken.includes(sh)) continue;
        const key = bucketKey(a.si, sh);
        const b = this.buckets.get(key);
        if (b) {
          // Idempotent for the same upload; another upload's bucket is busy (neither list).
          if (equalBytes(b.upload, a.upload)) {
            b.lastActive = this.now();
            allocated.push(sh);
          }
          continue;
        }
        if (a.size > space) {
          refusedForSpace++;
          continue;
        }
        if (this.buckets.size >= MAX_OPEN_BUCKETS) {
          if (allocated.length > 0) break;
          throw new StorageError(
            'UNAVAILABLE',
            'the server has too many uploads in progress; try again later',
          );
        }
        const pending = await this.backend.createPending(a.si, sh, false);
        space -= a.size;
        this.inFlightAllocation += a.size;
        this.buckets.set(key, {
          key,
          si: a.si,
          sh,
          upload: a.upload.slice(),
          size: a.size,
          pending,
          written: [],
          lastActive: this.now(),
          queue: Promise.resolve(),
          renew: a.renew.slice(),
          cancel: a.cancel.slice(),
          done: false,
        });
        allocated.push(sh);
      }
      if (alreadyHave.length > 0) await this.leaseShares(a.si, alreadyHave, 'immutable', a.renew, a.cancel);
      if (refusedForSpace > 0 && allocated.length === 0 && alreadyHave.length === 0) {
        throw new StorageError(
          'NO_SPACE',
          `server has ${space} bytes available (after its reserved space); a share needs ${a.size}`,
        );
      }
      this.log(
        `allocate si=${siPrefix(a.si)} size=${a.size} new=${allocated.length} have=${alreadyHave.length}` +
          (refusedForSpace ? ` refused=${refusedForSpace} (space)` : ''),
      );
      return { alreadyHave, allocated };
    });
  }

  private bucketFor(si: StorageIndex, sh: ShareNum, upload: Uint8Array): Bucket {
    const b = this.buckets.get(bucketKey(si, sh));
    if (!b || b.done)
      throw new StorageError('NOT_FOUND', `no upload in progress for share ${sh} of ${siPrefix(si)}`);
    if (!equalBytes(b.upload, upload))
      throw new StorageError('BAD_SECRET', `wrong upload secret for share ${sh}`);
    b.lastActive = this.now();
    return b;
  }

  async write(a: WriteArgs): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload);
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

  async close(a: BucketArgs): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload);
    return this.locks.run(lockKey(a.si), async () => {
      await b.queue;
      if (b.done) throw new StorageError('NOT_FOUND', `the upload of share ${a.sh} was closed or aborted`);
      const length = b.written.length === 0 ? 0 : b.written[0][1];
      if (b.written.length > 1 || (b.written.length === 1 && b.written[0][0] !== 0)) {
        throw new StorageError(
          'BAD_REQUEST',
          `share ${a.sh} has gaps: write every byte from 0 before closing`,
        );
      }
      if ((await this.sharesOfKind(a.si, 'mutable')).includes(a.sh)) {
        await this.dropBucket(b);
        throw new StorageError(
          'CONFLICT',
          `share ${a.sh} of ${siPrefix(a.si)} became a mutable share meanwhile`,
        );
      }
      b.done = true;
      this.buckets.delete(b.key);
      this.inFlightAllocation -= b.size;
      const lease = newLease(b.renew, b.cancel, this.leaseExpiry());
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

  async abort(a: BucketArgs): Promise<void> {
    const b = this.bucketFor(a.si, a.sh, a.upload);
    return this.dropBucket(b).then(() => this.log(`abort si=${siPrefix(a.si)} sh=${a.sh}`));
  }

  private async dropBucket(b: Bucket): Promise<void> {
    if (b.done) return;
    b.done = true;
    this.buckets.delete(b.key);
    this.inFlightAllocation -= b.size;
    await b.queue;
    await b.pending.discard();
  }

  /** Aborts uploads nobody has touched for the idle timeout. */
  async abortIdleUploads(): Promise<number> {
    const cutoff = this.now() - this.idleMs;
    const idle = [...this.buckets.values()].filter((b) => b.lastActive < cutoff);
    for (const b of idle) await this.dropBucket(b);
    if (idle.length) this.log(`aborted ${idle.length} idle upload(s)`);
    return idle.length;
  }

  listImmutable(si: StorageIndex): Promise<ShareNum[]> {
    return this.sharesOfKind(si, 'immutable');
  }

  listMutable(si: StorageIndex): Promise<ShareNum[]> {
    return this.sharesOfKind(si, 'mutable');
  }

  private async sharesOfKind(si: StorageIndex, kind: ShareKind): Promise<ShareNum[]> {
    const out: ShareNum[] = [];
    for (const sh of await this.backend.listShares(si)) {
      const f = await this.backend.openShare(si, sh, false);
      if (!f) continue;
      try {
        if (containerKind(await f.read(0, 32)) === kind) out.push(sh);
      } finally {
        await f.close();
      }
    }
    return out;
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

  /** Opens a committed share of the given kind, or fails with NOT_FOUND. */
  private async withShare<T>(
    si: StorageIndex,
    sh: ShareNum,
    kind: ShareKind,
    writable: boolean,
    fn: (f: ShareFile, head: Uint8Array) => Promise<T>,
  ): Promise<T> {
    const f = await this.backend.openShare(si, sh, writable);
    if (!f) throw new StorageError('NOT_FOUND', `no ${kind} share ${sh} of ${siPrefix(si)} here`);
    try {
      const head = await f.read(0, kind === 'mutable' ? MUTABLE_DATA_OFFSET : IMMUTABLE_HEADER_BYTES);
      if (containerKind(head) !== kind) {
        throw new StorageError('NOT_FOUND', `no ${kind} share ${sh} of ${siPrefix(si)} here`);
      }
      return await fn(f, head);
    } finally {
      await f.close();
    }
  }

  // ---- leases -------------------------------------------------------------------------

  addLease(a: LeaseArgs): Promise<void> {
    return this.locks.run(lockKey(a.si), async () => {
      const imm = await this.sharesOfKind(a.si, 'immutable');
      const mut = await this.sharesOfKind(a.si, 'mutable');
      if (imm.length + mut.length === 0)
        throw new StorageError('NOT_FOUND', `no shares of ${siPrefix(a.si)} here`);
      await this.leaseShares(a.si, imm, 'immutable', a.renew, a.cancel);
      await this.leaseShares(a.si, mut, 'mutable', a.renew, a.cancel);
    });
  }

  /** Adds or renews a lease on each share; caller holds the SI lock. */
  private async leaseShares(
    si: StorageIndex,
    shares: ShareNum[],
    kind: ShareKind,
    renew: Uint8Array,
    cancel: Uint8Array,
  ): Promise<void> {
    for (const sh of shares) {
      if (kind === 'immutable') {
        await this.withShare(si, sh, 'immutable', true, async (f, head) => {
          const layout = immutableLayout(head, await f.size());
          const leases = decodeImmutableLeases(
            await f.read(layout.leaseOffset, layout.leaseCount * IMMUTABLE_LEASE_BYTES),
          );
          const next = addOrRenewLease(leases, newLease(renew, cancel, this.leaseExpiry()));
          await f.write(layout.leaseOffset, encodeImmutableLeases(next));
          await f.write(0, encodeImmutableHeader(layout.dataLength, next.length));
          await f.sync();
        });
      } else {
        await this.rewriteMutable(si, sh, (c) => {
          c.leases = addOrRenewLease(c.leases, newLease(renew, cancel, this.leaseExpiry(), this.nodeId));
        });
      }
    }
  }

  /**
   * The lease expirer (Tahoe's, off unless asked for): drops expired leases everywhere and
   * deletes shares left with none. Returns what it did.
   */
  async expireLeases(): Promise<{ leasesRemoved: number; sharesDeleted: number }> {
    const nowSecs = Math.floor(this.now() / 1000);
    let leasesRemoved = 0;
    let sharesDeleted = 0;
    for await (const si of this.backend.listStorageIndexes()) {
      await this.locks.run(lockKey(si), async () => {
        for (const sh of await this.sharesOfKind(si, 'immutable')) {
          const left = await this.withShare(si, sh, 'immutable', true, async (f, head) => {
            const layout = immutableLayout(head, await f.size());
            const leases = decodeImmutableLeases(
              await f.read(layout.leaseOffset, layout.leaseCount * IMMUTABLE_LEASE_BYTES),
            );
            const live = leases.filter((l) => l.expires > nowSecs);
            if (live.length === leases.length || live.length === 0) return live.length;
            await f.write(0, encodeImmutableHeader(layout.dataLength, live.length));
            await f.write(layout.leaseOffset, encodeImmutableLeases(live));
            await f.truncate(layout.leaseOffset + live.length * IMMUTABLE_LEASE_BYTES);
            await f.sync();
            leasesRemoved += leases.length - live.length;
            return live.length;
          });
          if (left === 0) {
            this.readers.forget(si, sh);
            await this.backend.deleteShare(si, sh);
            sharesDeleted++;
          }
        }
        for (const sh of await this.sharesOfKind(si, 'mutable')) {
          let left = -1;
          await this.rewriteMutable(si, sh, (c) => {
            const live = c.leases.filter((l) => l.expires > nowSecs);
            leasesRemoved += c.leases.length - live.length;
            c.leases = live;
            left = live.length;
          });
          if (left === 0) {
            await this.backend.deleteShare(si, sh);
            sharesDeleted++;
          }
        }
      });
    }
    if (leasesRemoved || sharesDeleted) {
      this.log(`lease expiry: ${leasesRemoved} lease(s) expired, ${sharesDeleted} share(s) deleted`);
    }
    return { leasesRemoved, sharesDeleted };
  }

  async adviseCorrupt(a: CorruptArgs): Promise<void> {
    const have = await this.sharesOfKind(a.si, a.kind);
    if (!have.includes(a.sh))
      throw new StorageError('NOT_FOUND', `no ${a.kind} share ${a.sh} of ${siPrefix(a.si)} here`);
    const reason = a.reason.replace(/[^\x20-\x7e]/g, '?');
    await this.backend.recordAdvisory(
      `${a.kind} share ${a.sh} of storage index ${base32Encode(a.si)}\nreason: ${reason}\n`,
    );
    this.log(`corruption advised: ${a.kind} si=${siPrefix(a.si)} sh=${a.sh}`);
  }

  // ---- mutable ------------------------------------------------------------------------

  readMutable(a: ReadArgs): Promise<Uint8Array> {
    return this.withShare(a.si, a.sh, 'mutable', false, async (f, head) => {
      const h = decodeMutableHeader(head);
      return readClamped(f, MUTABLE_DATA_OFFSET, h.dataLength, a.offset, a.length);
    });
  }

  /** Tahoe's slot_testv_and_readv_and_writev (tahoe-formats §7.3), all-or-nothing. */
  readTestWrite(a: ReadTestWriteArgs): Promise<{ success: boolean; data: Map<ShareNum, Uint8Array[]> }> {
    return this.locks.run(lockKey(a.si), async () => {
      const existing = await this.sharesOfKind(a.si, 'mutable');
      // Storage indexes are public: a slot write must never overwrite someone's immutable shares.
      if ((await this.sharesOfKind(a.si, 'immutable')).length > 0) {
        throw new StorageError('CONFLICT', `storage index ${siPrefix(a.si)} holds immutable shares here`);
      }
      const headers = new Map<ShareNum, MutableHeader>();
      for (const sh of existing) {
        const h = await this.withShare(a.si, sh, 'mutable', false, async (_f, head) =>
          decodeMutableHeader(head),
        );
        headers.set(sh, h);
        if (!equalBytes(h.writeEnabler, a.writeEnabler)) {
          throw new StorageError(
            'BAD_WRITE_ENABLER',
            `the write enabler does not match the one share ${sh} was created with`,
          );
        }
      }
      const readData = async (sh: ShareNum, offset: number, size: number): Promise<Uint8Array> => {
        const h = headers.get(sh);
        if (!h) return new Uint8Array(0);
        return this.withShare(a.si, sh, 'mutable', false, (f) =>
          readClamped(f, MUTABLE_DATA_OFFSET, h.dataLength, offset, size),
        );
      };
      let success = true;
      for (const [sh, tw] of a.testWrite) {
        for (const t of tw.test) {
          if (!equalBytes(await readData(sh, t.offset, t.size), t.specimen)) success = false;
        }
      }
      const data = new Map<ShareNum, Uint8Array[]>();
      for (const sh of existing) {
        const reads: Uint8Array[] = [];
        for (const r of a.readVector) reads.push(await readData(sh, r.offset, r.size));
        data.set(sh, reads);
      }
      if (!success) return { success, data };

      for (const [sh, tw] of a.testWrite) {
        for (const w of tw.write) {
          if (w.offset + w.data.length > L.MAX_MUTABLE_SHARE_BYTES) {
            throw new StorageError(
              'TOO_LARGE',
              `mutable share ${sh} would exceed ${L.MAX_MUTABLE_SHARE_BYTES} bytes`,
            );
          }
        }
      }
      for (const [sh, tw] of a.testWrite) {
        if (tw.newLength === 0) {
          if (headers.has(sh)) await this.backend.deleteShare(a.si, sh);
          continue;
        }
        const lease = newLease(a.renew, a.cancel, this.leaseExpiry(), this.nodeId);
        await this.rewriteMutable(
          a.si,
          sh,
          (c) => {
            c.writes = tw.write;
            c.newLength = tw.newLength;
            c.leases = addOrRenewLease(c.leases, lease);
          },
          headers.has(sh) ? undefined : a.writeEnabler,
        );
      }
      this.log(`rtw si=${siPrefix(a.si)} shares=${a.testWrite.size} ok`);
      return { success, data };
    });
  }

  /**
   * Copy-on-write change of one mutable container: copy, apply writes / length / leases
   * to the copy, fsync, rename over the original. `createWith` makes a new one.
   */
  private async rewriteMutable(
    si: StorageIndex,
    sh: ShareNum,
    change: (c: MutableChange) => void,
    createWith?: Uint8Array,
  ): Promise<void> {
    const pending = await this.backend.createPending(si, sh, createWith === undefined);
    try {
      const f = pending.file;
      let header: MutableHeader;
      let leases: Lease[];
      if (createWith) {
        header = {
          nodeId: this.nodeId,
          writeEnabler: createWith,
          dataLength: 0,
          extraLeaseOffset: MUTABLE_DATA_OFFSET,
          slots: [],
        };
        leases = [];
      } else {
        header = decodeMutableHeader(await f.read(0, MUTABLE_DATA_OFFSET));
        const extra = await f.read(header.extraLeaseOffset, (await f.size()) - header.extraLeaseOffset);
        leases = [...header.slots.filter((l): l is Lease => l !== null), ...decodeExtraLeases(extra)];
      }
      const c: MutableChange = { writes: [], newLength: null, leases };
      change(c);
      let length = header.dataLength;
      for (const w of c.writes) {
        if (w.offset > length) {
          // Gaps are zero-filled (the old extra-lease bytes there must not show through).
          await f.write(MUTABLE_DATA_OFFSET + length, new Uint8Array(w.offset - length));
        }
        await f.write(MUTABLE_DATA_OFFSET + w.offset, w.data);
        length = Math.max(length, w.offset + w.data.length);
      }
      if (c.newLength !== null && c.newLength < length) length = c.newLength;
      const slots = c.leases.slice(0, 4);
      const extraLeases = c.leases.slice(4);
      const extraOffset = MUTABLE_DATA_OFFSET + length;
      const extraBytes = encodeExtraLeases(extraLeases);
      await f.write(extraOffset, extraBytes);
      await f.truncate(extraOffset + extraBytes.length);
      await f.write(
        0,
        encodeMutableHeader({ ...header, dataLength: length, extraLeaseOffset: extraOffset, slots }),
      );
      await pending.commit();
    } catch (err) {
      await pending.discard();
      throw err;
    }
  }
}

interface MutableChange {
  writes: Array<{ offset: number; data: Uint8Array }>;
  newLength: number | null;
  leases: Lease[];
}

async function readClamped(
  f: ShareFile,
  base: number,
  dataLength: number,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (offset >= dataLength || length === 0) return new Uint8Array(0);
  const n = Math.min(length, dataLength - offset);
  return f.read(base + offset, n);
}

function bucketKey(si: StorageIndex, sh: ShareNum): string {
  return `${lockKey(si)}/${sh}`;
}

function lockKey(si: StorageIndex): string {
  return base32Encode(si);
}
