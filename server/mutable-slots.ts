/**
 * Mutable slots (all mutable shares of one storage index): Tahoe's read-test-write
 * (tahoe-formats §7.3), reads, lease changes and lease expiry, each changing containers
 * in place through a write-ahead journal:
 *   plan the patches (mutable-plan.ts) → check and book the space → write the bytes past the
 *   shares' ends → fsync them (and the slot's last change, if its fsync was put off) → store
 *   the journal durably → apply the visible patches → fsync and remove the journal.
 * Where the backend's writes are read before they are synced (a file system), that last step
 * is put off: the journal stays (a crash replays it) until the slot's next change, which
 * fsyncs the shares before replacing it, or a second of quiet.
 * A change costs the bytes it touches, whatever the share's size: those a reader may see are
 * written twice (journal and share); those past a share's end (a publish's appends, which no
 * reader looks at) once, to the share, and made durable before the journal is written, so
 * the journal need not name them. A change that only creates one share goes to the backend
 * whole, in one step, without a journal (createMutable). A crash leaves a journal that
 * start-up replays (and, at worst, bytes past a share's end that the next change cuts); a
 * change that fails half way (I/O error) leaves the slot "unsettled": it is replayed before
 * anyone reads it again.
 *
 * Changes hold the slot's exclusive lock; reads hold it shared, so no read sees a change
 * half applied.
 */
import { equalBytes } from '../core/primitives/bytes.ts';
import type { ReadArgs, ReadTestWriteArgs } from '../core/protocol/frames.ts';
import * as L from '../core/protocol/limits.ts';
import { StorageError } from '../core/protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { ShareBackend, ShareFile } from './backends/backend.ts';
import {
  decodeMutableHeader,
  type LeaseRequest,
  leaseFor,
  MUTABLE_DATA_OFFSET,
  MUTABLE_LEASE_BYTES,
} from './containers.ts';
import { type CrawlCounts, type ExpiryPolicy, judgeShare, tally, zeroCounts } from './expiry.ts';
import { decodeJournal, encodeJournal, type JournalOp } from './journal.ts';
import type { KeyedLock } from './keyed-lock.ts';
import { addOrRenewLease } from './leases.ts';
import {
  type Patch,
  planSlotChange,
  type SlotState,
  slotState,
  splitAtEnd,
  tailLength,
} from './mutable-plan.ts';
import { siKey, siPrefix } from './si.ts';
import type { SpaceLedger } from './space.ts';

export interface MutableSlotsOptions {
  backend: ShareBackend;
  /** The server's per-storage-index lock, shared with the immutable side. */
  locks: KeyedLock;
  space: SpaceLedger;
  nodeId: Uint8Array;
  log: (line: string) => void;
}

/** Extra leases a container may carry before it is taken for corrupt (far beyond the cap). */
const MAX_TAIL_BYTES = 4 + 100_000 * MUTABLE_LEASE_BYTES;

interface Share {
  file: ShareFile;
  state: SlotState;
}

/** A change's bytes past a share's end (written before its journal). */
interface Append {
  sh: ShareNum;
  file: ShareFile;
  state: SlotState;
  patches: Patch[];
}

/**
 * How long an applied change's journal may stay, its shares' last fsync put off, when no
 * other change to the slot comes (which makes it durable and replaces the journal).
 */
const LINGER_MS = 1000;

export class MutableSlots {
  /** Slots with a journal on disk that is not yet applied in full. */
  private readonly unsettled = new Map<string, { si: StorageIndex; ops: JournalOp[] }>();
  /**
   * Slots whose last change is applied but not yet fsynced: its journal stays (a crash
   * replays it) until the slot's next change fsyncs the shares and replaces the journal, or
   * LINGER_MS pass. A publish's calls then cost one share fsync each, and one journal file.
   */
  private readonly lingering = new Map<
    string,
    { si: StorageIndex; ops: JournalOp[]; timer: ReturnType<typeof setTimeout> }
  >();

  constructor(private readonly o: MutableSlotsOptions) {}

  /** Replays (or, if torn, discards) every journal a crash left. Run before serving. */
  async recover(): Promise<void> {
    for await (const j of this.o.backend.journals()) {
      const ops = decodeJournal(j.bytes);
      if (!ops) {
        // Torn while it was written, so none of it was applied: the slot is as it was.
        this.o.log(`discarding an incomplete journal for si=${siPrefix(j.si)}`);
        await this.o.backend.removeJournal(j.si);
        continue;
      }
      this.unsettled.set(siKey(j.si), { si: j.si, ops });
      try {
        await this.o.locks.run(siKey(j.si), () => this.settle(j.si));
        this.o.log(`replayed the journal of si=${siPrefix(j.si)} (${ops.length} share change(s))`);
      } catch (err) {
        // One slot that cannot be repaired now must not keep the server from serving the
        // rest: it stays unsettled, and every use of it tries again.
        this.o.log(`cannot replay the journal of si=${siPrefix(j.si)} yet: ${(err as Error).message}`);
      }
    }
  }

  /** Makes every applied change durable and removes its journal (the server is stopping). */
  async close(): Promise<void> {
    for (const { si } of [...this.lingering.values()]) {
      await this.o.locks.run(siKey(si), () => this.harden(si));
    }
  }

  /**
   * Makes the slot's applied change durable, if its fsync was put off: its patches are
   * applied again (they are small: the visible part), fsynced, and its journal removed.
   * Caller holds the exclusive lock.
   */
  private async harden(si: StorageIndex): Promise<void> {
    const ops = this.unlinger(si);
    if (!ops) return;
    this.unsettled.set(siKey(si), { si, ops });
    await this.settle(si);
  }

  /** The ops of the slot's change whose fsync was put off, no longer waited on; null if none. */
  private unlinger(si: StorageIndex): JournalOp[] | null {
    const key = siKey(si);
    const l = this.lingering.get(key);
    if (!l) return null;
    clearTimeout(l.timer);
    this.lingering.delete(key);
    return l.ops;
  }

  private linger(si: StorageIndex, ops: JournalOp[]): void {
    const key = siKey(si);
    const timer = setTimeout(() => {
      this.o.locks
        .run(key, () => this.harden(si))
        .catch((err) => this.o.log(`cannot make si=${siPrefix(si)} durable yet: ${(err as Error).message}`));
    }, LINGER_MS);
    timer.unref?.();
    this.lingering.set(key, { si, ops, timer });
  }

  /** Applies the slot's leftover journal, if any. Caller holds the exclusive lock. */
  private async settle(si: StorageIndex): Promise<void> {
    const u = this.unsettled.get(siKey(si));
    if (!u) return;
    await this.apply(si, u.ops);
    await this.o.backend.removeJournal(si);
    this.unsettled.delete(siKey(si));
  }

  /** Runs `fn` under the shared lock, once no journal is pending for the slot. */
  private async readLocked<T>(si: StorageIndex, fn: () => Promise<T>): Promise<T> {
    const key = siKey(si);
    if (this.unsettled.has(key)) await this.o.locks.run(key, () => this.settle(si));
    return this.o.locks.shared(key, async () => {
      if (this.unsettled.has(key)) {
        throw new StorageError(
          'UNAVAILABLE',
          `mutable shares of ${siPrefix(si)} are being repaired; try again`,
        );
      }
      return fn();
    });
  }

  list(si: StorageIndex): Promise<ShareNum[]> {
    return this.readLocked(si, () => this.o.backend.listShares('mutable', si));
  }

  /** Reads share data; with `place`, into the view `place(n)` gives (the reply frame's body). */
  read(a: ReadArgs, place?: (n: number) => Uint8Array): Promise<Uint8Array> {
    return this.readLocked(a.si, async () => {
      const f = await this.o.backend.openShare('mutable', a.si, a.sh, false);
      if (!f) throw new StorageError('NOT_FOUND', `no mutable share ${a.sh} of ${siPrefix(a.si)} here`);
      const h = decodeMutableHeader(await f.read(0, MUTABLE_DATA_OFFSET));
      const n = clampedLength(h.dataLength, a.offset, a.length);
      const target = place ? place(n) : new Uint8Array(n);
      // A share cut short (damaged) gives what it has, as a plain read would: readers judge it.
      const got = n === 0 ? 0 : await f.readInto(MUTABLE_DATA_OFFSET + a.offset, target);
      return got === n ? target : target.slice(0, got);
    });
  }

  /** Tahoe's slot_testv_and_readv_and_writev (tahoe-formats §7.3), all-or-nothing. */
  readTestWrite(
    a: ReadTestWriteArgs,
    lease: LeaseRequest,
  ): Promise<{ success: boolean; data: Map<ShareNum, Uint8Array[]> }> {
    return this.o.locks.run(siKey(a.si), async () => {
      await this.settle(a.si);
      const existing = await this.load(a.si);
      for (const [sh, s] of existing) {
        if (!equalBytes(s.state.header.writeEnabler, a.writeEnabler)) {
          throw new StorageError(
            'BAD_WRITE_ENABLER',
            `the write enabler does not match the one share ${sh} was created with`,
          );
        }
      }
      const readData = (sh: ShareNum, offset: number, size: number): Promise<Uint8Array> => {
        const s = existing.get(sh);
        return s
          ? readClamped(s.file, s.state.header.dataLength, offset, size)
          : Promise.resolve(new Uint8Array(0));
      };
      let success = true;
      for (const [sh, tw] of a.testWrite) {
        for (const t of tw.test) {
          if (!equalBytes(await readData(sh, t.offset, t.size), t.specimen)) success = false;
        }
      }
      const data = new Map<ShareNum, Uint8Array[]>();
      for (const sh of existing.keys()) {
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
      const ops: JournalOp[] = [];
      const appends: Append[] = [];
      let growth = 0;
      for (const [sh, tw] of a.testWrite) {
        const cur = existing.get(sh);
        if (tw.newLength === 0) {
          if (cur) ops.push({ sh, kind: 'delete' });
          continue;
        }
        const version = cur ? cur.state.header.version : 2;
        const leases = addOrRenewLease(cur ? cur.state.leases : [], leaseFor(lease, version)).leases;
        const plan = planSlotChange(
          cur ? cur.state : null,
          { nodeId: this.o.nodeId, writeEnabler: a.writeEnabler },
          { writes: tw.write, newLength: tw.newLength, leases },
        );
        growth += plan.growth;
        if (!cur) {
          // A new share: stored whole (commit), or all of it journaled where the backend cannot.
          ops.push({ sh, kind: 'create', size: plan.size, patches: plan.patches });
          continue;
        }
        // What a write appends goes to the share before the journal is written, not through
        // it: a publish's calls append most of a share, so each byte is written once.
        const { journaled, beyondEnd } = splitAtEnd(plan.patches, cur.state.fileSize);
        ops.push({ sh, kind: 'patch', size: plan.size, patches: journaled });
        if (beyondEnd.length > 0) appends.push({ sh, file: cur.file, state: cur.state, patches: beyondEnd });
      }
      await this.commit(a.si, ops, growth, true, appends);
      this.o.log(`rtw si=${siPrefix(a.si)} shares=${a.testWrite.size} ok`);
      return { success, data };
    });
  }

  /** Adds or renews `lease` on every share of the slot; returns how many there are. Caller holds the exclusive lock. */
  async leaseAll(si: StorageIndex, lease: LeaseRequest): Promise<number> {
    await this.settle(si);
    const existing = await this.load(si);
    const ops: JournalOp[] = [];
    let growth = 0;
    for (const [sh, s] of existing) {
      const u = addOrRenewLease(s.state.leases, leaseFor(lease, s.state.header.version));
      if (u.changed === null) continue;
      const plan = planSlotChange(s.state, s.state.header, { writes: [], newLength: null, leases: u.leases });
      ops.push({ sh, kind: 'patch', size: plan.size, patches: plan.patches });
      growth += plan.growth;
    }
    await this.commit(si, ops, growth);
    return existing.size;
  }

  /**
   * Drops leases expired at `nowSecs` as Tahoe's expirer does (each becomes a blank record in
   * place); deletes shares left with none. Caller holds the exclusive lock.
   */
  async expireByTime(
    si: StorageIndex,
    nowSecs: number,
  ): Promise<{ leasesRemoved: number; sharesDeleted: number }> {
    await this.settle(si);
    const ops: JournalOp[] = [];
    let leasesRemoved = 0;
    let sharesDeleted = 0;
    for (const [sh, s] of await this.load(si)) {
      const kept = s.state.leases.map((l) => (l && l.expires > nowSecs ? l : null));
      const live = kept.filter((l) => l !== null).length;
      const had = s.state.leases.filter((l) => l !== null).length;
      if (live === had && live > 0) continue;
      leasesRemoved += had - live;
      if (live === 0) {
        ops.push({ sh, kind: 'delete' });
        sharesDeleted++;
        continue;
      }
      const plan = planSlotChange(s.state, s.state.header, { writes: [], newLength: null, leases: kept });
      ops.push({ sh, kind: 'patch', size: plan.size, patches: plan.patches });
    }
    await this.commit(si, ops, 0);
    return { leasesRemoved, sharesDeleted };
  }

  /**
   * The lease crawler's look at the slot (expiry.ts): every share judged under `policy`, and
   * (with `policy.delete`) those with no live lease deleted through the journal, so a crash
   * leaves the slot before or after, never between. Expired leases on shares that are kept
   * stay. A share `keep(sh)` holds, or whose container cannot be read, is kept. Caller holds
   * the exclusive lock.
   */
  async expire(
    si: StorageIndex,
    policy: ExpiryPolicy,
    keep: (sh: ShareNum) => boolean,
  ): Promise<CrawlCounts> {
    await this.settle(si);
    const c = zeroCounts();
    const ops: JournalOp[] = [];
    const found: Array<{ sh: ShareNum; bytes: number; leases: number; j: ReturnType<typeof judgeShare> }> =
      [];
    for (const sh of await this.o.backend.listShares('mutable', si)) {
      const file = await this.o.backend.openShare('mutable', si, sh, false);
      if (!file) continue;
      let state: SlotState | null = null;
      let bytes = 0;
      try {
        bytes = await file.size();
        state = await readState(file);
      } catch (err) {
        this.o.log(
          `lease crawler: cannot read mutable share ${sh} of si=${siPrefix(si)}: ${(err as Error).message}; kept`,
        );
      }
      // Tahoe's blank records (null) are no leases at all.
      const live = state ? state.leases.filter((l) => l !== null) : null;
      const j = judgeShare(live ? live.map((l) => l.expires) : null, policy, keep(sh));
      if (j.verdict === 'expired' && policy.delete) ops.push({ sh, kind: 'delete' });
      found.push({ sh, bytes, leases: live ? live.length : 0, j });
    }
    await this.commit(si, ops, 0);
    for (const s of found)
      tally(c, 'mutable', s.bytes, s.leases, s.j, s.j.verdict === 'expired' && policy.delete);
    return c;
  }

  /** The slot's shares and their containers, opened for the change about to be made. */
  private async load(si: StorageIndex): Promise<Map<ShareNum, Share>> {
    const out = new Map<ShareNum, Share>();
    for (const sh of await this.o.backend.listShares('mutable', si)) {
      const file = await this.o.backend.openShare('mutable', si, sh, true);
      if (file) out.set(sh, { file, state: await readState(file) });
    }
    return out;
  }

  /**
   * Books the space, journals, applies, and forgets the journal. Caller holds the exclusive
   * lock. Only writes are checked for space: lease changes are a few bytes (the cap bounds
   * them), and a full server must still take renewals, or shares would expire for want of
   * room to say they should not.
   */
  private async commit(
    si: StorageIndex,
    ops: JournalOp[],
    growth: number,
    checkSpace = false,
    appends: readonly Append[] = [],
  ): Promise<void> {
    if (ops.length === 0) return;
    // A change that only creates one share (a publish's first write to a server) is stored in
    // one step where the backend can (after a crash: absent or whole), without a journal.
    const create = this.o.backend.createMutable;
    const only = ops.length === 1 && ops[0].kind === 'create' && create ? ops[0] : null;
    const journal = only ? null : encodeJournal(ops);
    // The journal is on disk while the change is applied: it needs room too.
    const need = checkSpace ? growth + (journal?.length ?? 0) : 0;
    const free = checkSpace ? await this.o.backend.freeBytes() : 0;
    if (!this.o.space.tryBook(free, need)) {
      throw new StorageError(
        'NO_SPACE',
        `server has ${this.o.space.available(free)} bytes available (after its reserved space); ` +
          `this write needs ${need}`,
      );
    }
    try {
      if (only?.kind === 'create' && create) {
        // The slot's last journal must not outlive this: replayed, it could undo it.
        await this.harden(si);
        await create.call(this.o.backend, si, only.sh, patchedBytes(only.size, only.patches));
      } else if (journal) {
        // Bytes past the shares' ends first, durably: the journal then needs only the
        // visible patches, and a crash before it leaves the slot as it was (plus bytes past
        // an end, which readers never see and the next change overwrites or cuts).
        const toSync = new Map<ShareNum, ShareFile>();
        for (const ap of appends) {
          if (ap.state.storedSize !== ap.state.fileSize) await ap.file.truncate(ap.state.fileSize);
          for (const p of ap.patches) await ap.file.write(p.offset, p.data);
          toSync.set(ap.sh, ap.file);
        }
        // The slot's last change, applied with its fsync put off, is made durable before
        // its journal is replaced (the same fsync as this change's appends, share by share).
        const key = siKey(si);
        const last = this.unlinger(si);
        if (last) {
          for (const op of last) {
            if (op.kind === 'delete' || toSync.has(op.sh)) continue;
            const f = await this.o.backend.openShare('mutable', si, op.sh, true);
            if (f) toSync.set(op.sh, f);
          }
        }
        try {
          for (const f of toSync.values()) await f.sync();
        } catch (err) {
          // Its journal is still there: replayed (durably) before the slot is used again.
          if (last) this.unsettled.set(key, { si, ops: last });
          throw err;
        }
        try {
          await this.o.backend.writeJournal(si, journal);
        } catch (err) {
          // Not applied at all; whatever part of the journal reached the disk is torn.
          await this.o.backend.removeJournal(si).catch(() => {});
          throw err;
        }
        this.unsettled.set(key, { si, ops });
        // (A change that only deletes is durable as applied: nothing to put off.)
        if (this.o.backend.writesVisibleBeforeSync && ops.some((op) => op.kind !== 'delete')) {
          await this.apply(si, ops, false);
          this.unsettled.delete(key);
          this.linger(si, ops);
        } else {
          await this.settle(si);
        }
      }
    } finally {
      this.o.space.release(need);
    }
  }

  /** Applies `ops`; `durable`: fsyncs each share changed (else the caller does, later). */
  private async apply(si: StorageIndex, ops: JournalOp[], durable = true): Promise<void> {
    for (const op of ops) {
      if (op.kind === 'delete') {
        await this.o.backend.deleteShare('mutable', si, op.sh);
        continue;
      }
      const f =
        op.kind === 'create'
          ? await this.o.backend.openOrCreateMutable(si, op.sh)
          : await this.o.backend.openShare('mutable', si, op.sh, true);
      if (!f) {
        this.o.log(`journal of si=${siPrefix(si)} changes share ${op.sh}, which is gone; skipped`);
        continue;
      }
      for (const p of op.patches) await f.write(p.offset, p.data);
      await f.truncate(op.size);
      if (durable) await f.sync();
    }
  }
}

/** Extra-lease bytes read with the block's count in one go (most containers have none). */
const TAIL_GUESS = 4 + 4 * MUTABLE_LEASE_BYTES;

async function readState(f: ShareFile): Promise<SlotState> {
  const headerBytes = await f.read(0, MUTABLE_DATA_OFFSET);
  const header = decodeMutableHeader(headerBytes);
  const storedSize = await f.size();
  const available = storedSize - header.extraLeaseOffset;
  let tail =
    available > 0
      ? await f.read(header.extraLeaseOffset, Math.min(available, TAIL_GUESS))
      : new Uint8Array(0);
  const length = tailLength(tail, available);
  if (length > MAX_TAIL_BYTES) throw new Error('mutable container is corrupt: too many extra leases');
  if (length > tail.length) tail = await f.read(header.extraLeaseOffset, length);
  tail = tail.subarray(0, length);
  const end = available > 0 ? header.extraLeaseOffset + tail.length : storedSize;
  return slotState(headerBytes, tail, end, storedSize);
}

/** Bytes of share data a read of `length` at `offset` gets (none past the data's end). */
function clampedLength(dataLength: number, offset: number, length: number): number {
  return offset >= dataLength ? 0 : Math.min(length, dataLength - offset);
}

function readClamped(f: ShareFile, dataLength: number, offset: number, length: number): Promise<Uint8Array> {
  const n = clampedLength(dataLength, offset, length);
  return n === 0 ? Promise.resolve(new Uint8Array(0)) : f.read(MUTABLE_DATA_OFFSET + offset, n);
}

/** The bytes of a file `size` long made by applying `patches` in order to an empty one. */
function patchedBytes(size: number, patches: readonly Patch[]): Uint8Array {
  const out = new Uint8Array(size);
  for (const p of patches) {
    if (p.offset < size) out.set(p.data.subarray(0, size - p.offset), p.offset);
  }
  return out;
}
