/**
 * Shares on a local disk, in Tahoe's layout (DIR/storage is Tahoe's NODEDIR/storage; a
 * Tahoe storage folder itself can be given as the storage folder, see `storageFolder`):
 *   DIR/storage/shares/<first 2 chars of base32 SI>/<base32 SI>/<shnum>
 *   DIR/storage/shares-second-kind/<kind>/<2 chars>/<base32 SI>/<shnum>
 *   DIR/storage/incoming/<base32 SI>.<shnum>.<16 hex>         uploads in progress, and parked ones
 *   DIR/storage/incoming/<base32 SI>.<shnum>.<16 hex>.state   an upload's last checkpoint
 *   DIR/storage/journal/<base32 SI>                mutable changes being applied (replayed at start)
 *   DIR/storage/corruption-advisories/
 * A storage index's folder under shares/ holds the kind of share (immutable or mutable)
 * that arrived there first, exactly as Tahoe would; should the other kind arrive too (an
 * outsider can name any storage index), it goes to shares-second-kind/<kind>/, where it
 * cannot collide with or block the first. Normally no storage index has both, so
 * shares-second-kind/ stays empty.
 *
 * A new immutable share is written under incoming/, fsynced, renamed into place, and the
 * folder fsynced, so a crash leaves either the whole share or none of it. Every file
 * handle goes through one HandleBudget.
 *
 * An upload's checkpoint fsyncs its data, then replaces its .state file (written to a
 * temporary name, fsynced, renamed, folder fsynced; checksummed besides). At start, an upload
 * with a whole .state is handed back to the server (recoverUploads) and everything else in
 * incoming/ is deleted: data never checkpointed, torn or stray state files, older names.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { base32Decode, base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import type {
  JournalRecord,
  LeaseStore,
  PendingShare,
  RecoveredUpload,
  ShareBackend,
  ShareFile,
} from './backend.ts';
import {
  readContainerLeases,
  sealContainer,
  wholeContainer,
  writeContainerLeases,
} from './container-leases.ts';
import { DiskCommitter } from './disk-committer.ts';
import { readFullyAt } from './read-fully.ts';
import { containerKind, type ShareKind } from '../containers.ts';
import { defaultHandleBudget, HandleBudget, type HandleMode } from '../handle-budget.ts';

export interface DiskBackendOptions {
  /** File handles the backend may hold at once (default: a quarter of the process limit). */
  maxOpenFiles?: number;
  /** The folder that holds shares/ (default DIR/storage). */
  storageDir?: string;
}

/**
 * The storage folder for a server folder DIR: DIR/storage, unless DIR is itself a Tahoe
 * storage folder (a Tahoe node's NODEDIR/storage: it has shares/ and no storage/), whose
 * shares are then served where they are.
 */
export async function storageFolder(dir: string): Promise<string> {
  const isDir = (p: string) =>
    fs.stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    );
  if (!(await isDir(path.join(dir, 'storage'))) && (await isDir(path.join(dir, 'shares')))) return dir;
  return path.join(dir, 'storage');
}

const SI_NAME = /^[a-z2-7]{26}$/;
const ADVISORY_NAME = /^[A-Za-z0-9._-]{1,200}$/;
/** An upload's data file in incoming/: SI, share number, random tag. */
const INCOMING_NAME = /^([a-z2-7]{26})\.(0|[1-9]\d{0,2})\.([0-9a-f]{16})$/;
const STATE_SUFFIX = '.state';
const STATE_MAGIC = Buffer.from('cairn-upload-checkpoint-v1\n');
/** Larger state files are not ours (the server's states are a few KB at most). */
const MAX_STATE_BYTES = 1024 * 1024;
/**
 * How long a statfs answer stands in for the disk's free space (less what was written
 * through this backend since). Every allocate and version asked the disk: a statfs per share
 * of every small file, most of a millisecond each on a busy machine.
 */
const FREE_SPACE_TTL_MS = 1000;

export class DiskBackend implements ShareBackend {
  readonly writesVisibleBeforeSync = true;
  readonly handles: HandleBudget;
  private readonly sharesDir: string;
  private readonly secondDir: string;
  private readonly incomingDir: string;
  private readonly journalDir: string;
  private readonly advisoryDir: string;
  /** In the container, where Tahoe keeps them (container-leases.ts). */
  readonly leases: LeaseStore = {
    get: async (si, sh) => {
      const f = await this.openShare('immutable', si, sh, false);
      if (!f) return null;
      const { version, leases } = await readContainerLeases(f);
      return { version, leases };
    },
    set: async (si, sh, leases) => {
      const f = await this.openShare('immutable', si, sh, true);
      if (!f) return;
      await writeContainerLeases(f, await readContainerLeases(f), leases);
    },
  };
  /** The last statfs answer and when; bytes written through this backend since then. */
  private free: { bytes: number; at: number } | null = null;
  private writtenSinceStatfs = 0;
  private readonly onWrite = (n: number) => {
    this.writtenSinceStatfs += n;
  };
  /**
   * Whether the second-kind tree may hold shares of each kind. It stays empty on almost every
   * server (it takes an outsider naming a storage index of the other kind), and this server is
   * the only writer of its folder (dir-lock.ts), so a look at start and a note when this
   * server creates a folder there spare every share an lookup of a folder that is not there.
   */
  private readonly secondKindUsed: Record<ShareKind, boolean> = { immutable: true, mutable: true };
  /** Journal files this process wrote whose names are durable (their folder fsynced since). */
  private readonly namedJournals = new Set<string>();
  /** Random per process, so names stay apart across restarts; a counter within it (incomingTag). */
  private readonly tagPrefix = randomBytes(4).toString('hex');
  private tagCount = 0;
  /** The pending free-space query, shared by the allocations that ask meanwhile. */
  private statfsRunning: Promise<void> | null = null;
  /** New shares given whole, made durable in batches off the event loop. */
  private readonly committer = new DiskCommitter();
  /** Folder fsyncs running, and the one queued after each (syncDir). */
  private readonly dirSyncs = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

  constructor(
    readonly root: string,
    opts: DiskBackendOptions = {},
  ) {
    this.handles = new HandleBudget(opts.maxOpenFiles ?? defaultHandleBudget());
    const storage = opts.storageDir ?? path.join(root, 'storage');
    this.sharesDir = path.join(storage, 'shares');
    this.secondDir = path.join(storage, 'shares-second-kind');
    this.incomingDir = path.join(storage, 'incoming');
    this.journalDir = path.join(storage, 'journal');
    this.advisoryDir = path.join(storage, 'corruption-advisories');
  }

  async init(): Promise<void> {
    for (const d of [this.sharesDir, this.incomingDir, this.journalDir, this.advisoryDir])
      await fs.mkdir(d, { recursive: true });
    for (const kind of ['immutable', 'mutable'] as const)
      this.secondKindUsed[kind] = exists(path.join(this.secondDir, kind));
  }

  async recoverUploads(): Promise<RecoveredUpload[]> {
    const names = await this.readdir(this.incomingDir);
    const present = new Set(names);
    const keep = new Set<string>();
    const out: RecoveredUpload[] = [];
    for (const name of names) {
      const m = INCOMING_NAME.exec(name);
      if (!m || Number(m[2]) > 255 || !present.has(name + STATE_SUFFIX)) continue;
      const state = await this.readState(path.join(this.incomingDir, name + STATE_SUFFIX));
      const stat = await fs.stat(path.join(this.incomingDir, name)).catch(() => null);
      if (!state || !stat?.isFile()) continue;
      const si = asStorageIndex(base32Decode(m[1]));
      const sh = asShareNum(Number(m[2]));
      keep.add(name);
      keep.add(name + STATE_SUFFIX);
      out.push({ si, sh, state, bytes: stat.size, pending: this.pendingAt(si, sh, name, true) });
    }
    let removed = false;
    for (const name of names) {
      if (keep.has(name)) continue;
      await fs.rm(path.join(this.incomingDir, name), { recursive: true, force: true });
      removed = true;
    }
    if (removed) await this.syncDir(this.incomingDir);
    return out;
  }

  /** A state file's contents if it is whole (magic, length and checksum agree), else null. */
  private async readState(p: string): Promise<Uint8Array | null> {
    const bytes = await this.handles
      .transient(async () => {
        const h = await fs.open(p, 'r');
        try {
          if ((await h.stat()).size > MAX_STATE_BYTES) return null;
          return await h.readFile();
        } finally {
          await h.close();
        }
      })
      .catch(() => null);
    if (!bytes || bytes.length < STATE_MAGIC.length + 4 + 32) return null;
    if (!bytes.subarray(0, STATE_MAGIC.length).equals(STATE_MAGIC)) return null;
    const length = bytes.readUInt32BE(STATE_MAGIC.length);
    const end = STATE_MAGIC.length + 4 + length;
    if (bytes.length !== end + 32) return null;
    const sum = createHash('sha256').update(bytes.subarray(0, end)).digest();
    if (!sum.equals(bytes.subarray(end))) return null;
    return new Uint8Array(bytes.subarray(STATE_MAGIC.length + 4, end));
  }

  async close(): Promise<void> {
    await this.committer.close();
    await this.handles.closeAll();
  }

  async freeBytes(): Promise<number> {
    if (!this.free || performance.now() - this.free.at >= FREE_SPACE_TTL_MS) {
      // One statfs for all who ask while it runs (a batch of small files asks 64 times at once).
      this.statfsRunning ??= (async () => {
        const now = performance.now();
        const s = await fs.statfs(this.sharesDir);
        this.free = { bytes: Number(s.bavail) * Number(s.bsize), at: now };
        this.writtenSinceStatfs = 0;
      })().finally(() => {
        this.statfsRunning = null;
      });
      await this.statfsRunning;
    }
    if (!this.free) throw new Error('no free-space figure');
    // Bytes written since may be booked as well (an upload in progress): counted twice for
    // at most a second, which errs on the side of refusing.
    return Math.max(0, this.free.bytes - this.writtenSinceStatfs);
  }

  private primaryDir(si: StorageIndex): string {
    const b = base32Encode(si);
    return path.join(this.sharesDir, b.slice(0, 2), b);
  }

  private secondKindDir(kind: ShareKind, si: StorageIndex): string {
    const b = base32Encode(si);
    return path.join(this.secondDir, kind, b.slice(0, 2), b);
  }

  async *listStorageIndexes(): AsyncIterable<StorageIndex> {
    yield* this.indexesUnder(this.sharesDir, async () => false);
    // A storage index with a folder in an earlier tree was yielded already.
    yield* this.indexesUnder(path.join(this.secondDir, 'immutable'), async (si) =>
      exists(this.primaryDir(si)),
    );
    yield* this.indexesUnder(
      path.join(this.secondDir, 'mutable'),
      async (si) => exists(this.primaryDir(si)) || exists(this.secondKindDir('immutable', si)),
    );
  }

  private async *indexesUnder(
    root: string,
    seen: (si: StorageIndex) => Promise<boolean>,
  ): AsyncIterable<StorageIndex> {
    for (const prefix of await this.readdir(root)) {
      for (const name of await this.readdir(path.join(root, prefix))) {
        if (!SI_NAME.test(name) || !name.startsWith(prefix)) continue; // not ours: leave it alone
        const si = asStorageIndex(base32Decode(name));
        if (!(await seen(si))) yield si;
      }
    }
  }

  async storageIndexesIn(prefix: string): Promise<StorageIndex[]> {
    if (!/^[a-z2-7]{2}$/.test(prefix)) throw new Error(`not a storage index prefix: '${prefix}'`);
    const names = new Set<string>();
    for (const root of [
      this.sharesDir,
      path.join(this.secondDir, 'immutable'),
      path.join(this.secondDir, 'mutable'),
    ]) {
      for (const name of await this.readdir(path.join(root, prefix))) {
        if (SI_NAME.test(name) && name.startsWith(prefix)) names.add(name);
      }
    }
    const out: StorageIndex[] = [];
    for (const name of [...names].sort()) {
      try {
        out.push(asStorageIndex(base32Decode(name)));
      } catch {
        // 26 letters that are no 16 bytes (trailing bits set): not a folder we made; leave it alone.
      }
    }
    return out;
  }

  async listShares(kind: ShareKind, si: StorageIndex): Promise<ShareNum[]> {
    const out = new Set<ShareNum>();
    const primary = this.primaryDir(si);
    for (const sh of await this.shareNames(primary)) {
      if ((await this.kindOf(path.join(primary, String(sh)))) === kind) out.add(sh);
    }
    if (this.secondKindUsed[kind])
      for (const sh of await this.shareNames(this.secondKindDir(kind, si))) out.add(sh);
    return [...out].sort((a, b) => a - b);
  }

  async openShare(
    kind: ShareKind,
    si: StorageIndex,
    sh: ShareNum,
    writable: boolean,
  ): Promise<ShareFile | null> {
    const p = await this.locate(kind, si, sh);
    return p ? new DiskFile(this.handles, p, writable ? 'rw' : 'r', undefined, this.onWrite) : null;
  }

  async openOrCreateMutable(si: StorageIndex, sh: ShareNum): Promise<ShareFile> {
    const found = await this.locate('mutable', si, sh);
    if (found) return new DiskFile(this.handles, found, 'rw', undefined, this.onWrite);
    const dir = await this.placeNew('mutable', si, sh);
    await this.mkdirDurably(dir);
    const p = path.join(dir, String(sh));
    // A handle cached for this path may belong to a file deleted behind our back (an operator,
    // a failed disk): writing through it would land in the unlinked inode. Start afresh.
    await this.handles.forget(p);
    const file = new DiskFile(this.handles, p, 'rw', fsc.O_RDWR | fsc.O_CREAT, this.onWrite);
    await file.size(); // creates it
    await this.syncDir(dir);
    return file;
  }

  async createMutable(si: StorageIndex, sh: ShareNum, bytes: Uint8Array): Promise<void> {
    // Written whole under incoming/ (a leftover there is deleted at start), then renamed in.
    const tmp = path.join(
      this.incomingDir,
      `${base32Encode(si)}.${sh}.${randomBytes(8).toString('hex')}.new`,
    );
    await this.handles.transient(async () => {
      const h = await fs.open(tmp, 'wx', 0o600);
      try {
        await h.writeFile(bytes);
        await h.sync();
      } finally {
        await h.close();
      }
    });
    this.onWrite(bytes.length);
    try {
      await this.renameIntoPlace('mutable', si, sh, tmp);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Renames a written, fsynced file to share `sh` of `kind`, durably. */
  private async renameIntoPlace(kind: ShareKind, si: StorageIndex, sh: ShareNum, tmp: string): Promise<void> {
    // Most shares are the first of their storage index here: making its folder settles that
    // the folder is new, so ours, with no listing of it. Its parents' listings are fsynced
    // with its own after the rename (the data is durable already, so no order among them
    // can show a partial share).
    const primary = this.primaryDir(si);
    const made = this.secondKindUsed[kind] ? null : await this.makeFolder(primary);
    const dir = made ? primary : await this.placeNew(kind, si, sh);
    const finalPath = path.join(dir, String(sh));
    await this.handles.forget(finalPath);
    // A concurrent delete may remove an emptied share folder: make it again and retry once.
    for (let attempt = 0; ; attempt++) {
      if (!made || attempt > 0) await this.mkdirDurably(dir);
      try {
        await fs.rename(tmp, finalPath);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw err;
      }
    }
    await Promise.all([dir, ...(made ?? [])].map((d) => this.syncDir(d)));
  }

  /** Where share `sh` of `kind` lives, or null. */
  private async locate(kind: ShareKind, si: StorageIndex, sh: ShareNum): Promise<string | null> {
    const primary = path.join(this.primaryDir(si), String(sh));
    // The path itself is asked first: a handle cached for it may outlive a file deleted behind
    // our back, and reading or writing through it would use the unlinked inode.
    if (!exists(primary)) await this.handles.forget(primary);
    else if ((await this.kindOf(primary)) === kind) return primary;
    if (!this.secondKindUsed[kind]) return null;
    const second = path.join(this.secondKindDir(kind, si), String(sh));
    return exists(second) ? second : null;
  }

  /**
   * The folder for new share `sh` of `kind`: with the others of its kind if some are in the
   * second-kind tree, else Tahoe's folder unless the other kind holds it. Tahoe's folder
   * holds one kind, so looking at the share's own name and one other file settles it (a
   * folder that holds both, left by older versions, still never has a share replaced).
   */
  private async placeNew(kind: ShareKind, si: StorageIndex, sh: ShareNum): Promise<string> {
    const second = this.secondKindDir(kind, si);
    if (this.secondKindUsed[kind] && (await this.shareNames(second)).length > 0) return second;
    const primary = this.primaryDir(si);
    // An empty or missing folder (every new storage index) is ours without opening anything.
    const names = await this.shareNames(primary);
    if (names.length === 0) return primary;
    const isOther = async (n: ShareNum) => {
      const k = await this.kindOf(path.join(primary, String(n)));
      return k !== null && k !== kind;
    };
    if (names.includes(sh) && (await isOther(sh))) return second;
    const other = names.find((n) => n !== sh);
    return other !== undefined && (await isOther(other)) ? second : primary;
  }

  /** 16 hex digits for a new name under incoming/ (no random bytes per share: they cost). */
  private incomingTag(): string {
    this.tagCount = (this.tagCount + 1) >>> 0;
    return this.tagPrefix + this.tagCount.toString(16).padStart(8, '0');
  }

  createPending(si: StorageIndex, sh: ShareNum): PendingShare {
    // Flat names: no per-SI folders to create and remove while others race for them. The
    // tag's random half keeps names apart across restarts, which keep parked uploads.
    return this.pendingAt(si, sh, `${base32Encode(si)}.${sh}.${this.incomingTag()}`, false);
  }

  private pendingAt(si: StorageIndex, sh: ShareNum, name: string, exists: boolean): PendingShare {
    const tmp = path.join(this.incomingDir, name);
    const statePath = tmp + STATE_SUFFIX;
    // A new one is created by its first write ('wx+'): until then the upload holds no file at all.
    const file = new DiskFile(this.handles, tmp, 'rw', exists ? undefined : 'wx+', this.onWrite);
    let done = false;
    // Whether a state file may exist: most uploads finish before their first checkpoint,
    // and removing a state that is not there costs a few calls per share.
    let stated = exists;
    return {
      file,
      commit: async (seal) => {
        if (done) throw new Error('share already committed or discarded');
        if (seal.data && file.unopened && !stated && !this.secondKindUsed.immutable) {
          // Given whole, nothing written yet: the group commit writes it (disk-committer.ts).
          done = true;
          const bytes = wholeContainer(seal.data.subarray(0, seal.dataLength), seal.leases);
          const dir = this.primaryDir(si);
          const final = path.join(dir, String(sh));
          await this.handles.forget(final);
          const written = bytes.length; // the buffer goes to the committer's worker
          const outcome = await this.committer.commit({ tmp, dir, final, bytes });
          this.onWrite(written);
          // Its folder was there (another share of it here): the file is durable at `tmp`.
          if (outcome === 'exists') {
            try {
              await this.renameIntoPlace('immutable', si, sh, tmp);
            } catch (err) {
              await fs.rm(tmp, { force: true }); // done is set: the caller's discard would leave it
              throw err;
            }
          }
          return;
        }
        // Tahoe's container, leases inside (where a Tahoe node reading this folder looks).
        // A share given whole to an upload that wrote nothing yet creates its file here, in one
        // write of exactly the container: no truncate needed.
        await sealContainer(file, seal.dataLength, seal.leases, seal.data, file.unopened);
        done = true;
        await file.sync();
        await this.handles.forget(tmp);
        await this.renameIntoPlace('immutable', si, sh, tmp);
        // A state left by a crash here has no data beside it and is deleted at start.
        if (stated) await fs.rm(statePath, { force: true });
      },
      discard: async () => {
        if (done) return;
        done = true;
        await this.handles.forget(tmp);
        // State first: data without a state is deleted at start, never handed back.
        if (stated) await fs.rm(statePath, { force: true });
        await fs.rm(tmp, { force: true });
      },
      checkpoint: async (state) => {
        if (done) throw new Error('share already committed or discarded');
        stated = true;
        await file.sync();
        const head = Buffer.alloc(STATE_MAGIC.length + 4);
        STATE_MAGIC.copy(head);
        head.writeUInt32BE(state.length, STATE_MAGIC.length);
        const sum = createHash('sha256').update(head).update(state).digest();
        const next = `${statePath}.tmp`;
        await this.handles.transient(async () => {
          const h = await fs.open(next, 'w', 0o600);
          try {
            await h.writeFile(Buffer.concat([head, state, sum]));
            await h.sync();
          } finally {
            await h.close();
          }
        });
        await fs.rename(next, statePath);
        // Makes the state's name durable, and the data file's with it.
        await this.syncDir(this.incomingDir);
      },
      release: () => this.handles.forget(tmp),
    };
  }

  async deleteShare(kind: ShareKind, si: StorageIndex, sh: ShareNum): Promise<void> {
    const p = await this.locate(kind, si, sh);
    if (!p) return;
    await this.handles.forget(p);
    await fs.rm(p, { force: true });
    const dir = path.dirname(p);
    await this.syncDir(dir).catch(() => {});
    await fs.rmdir(dir).catch(() => {}); // only if empty
  }

  // ---- journals -----------------------------------------------------------------------

  private journalPath(si: StorageIndex): string {
    return path.join(this.journalDir, base32Encode(si));
  }

  async writeJournal(si: StorageIndex, bytes: Uint8Array): Promise<void> {
    const p = this.journalPath(si);
    await this.handles.transient(async () => {
      const h = await fs.open(p, 'w', 0o600);
      try {
        await h.writeFile(bytes);
        await h.sync();
      } finally {
        await h.close();
      }
    });
    // Its name must be durable too before the share is touched: once per file (a slot's
    // journal replaced by its next change keeps its name).
    if (this.namedJournals.has(p)) return;
    await this.syncDir(this.journalDir);
    this.namedJournals.add(p);
  }

  async removeJournal(si: StorageIndex): Promise<void> {
    // No fsync: should the removal be lost, replaying an applied journal changes nothing.
    const p = this.journalPath(si);
    this.namedJournals.delete(p);
    await fs.rm(p, { force: true });
  }

  async *journals(): AsyncIterable<JournalRecord> {
    for (const name of await this.readdir(this.journalDir)) {
      if (!SI_NAME.test(name)) continue;
      const p = path.join(this.journalDir, name);
      const bytes = await this.handles.transient(() => fs.readFile(p));
      yield { si: asStorageIndex(base32Decode(name)), bytes: new Uint8Array(bytes) };
    }
  }

  // ---- advisories ---------------------------------------------------------------------

  async recordAdvisory(name: string, text: string): Promise<void> {
    if (!ADVISORY_NAME.test(name)) throw new Error(`not an advisory name: ${name}`);
    await this.handles.transient(() =>
      fs.writeFile(path.join(this.advisoryDir, name), text, { mode: 0o600, flag: 'wx' }),
    );
  }

  advisoryNames(): Promise<string[]> {
    return this.readdir(this.advisoryDir);
  }

  // ---- helpers ------------------------------------------------------------------------

  private async shareNames(dir: string): Promise<ShareNum[]> {
    return (await this.readdir(dir))
      .filter((n) => /^(0|[1-9]\d{0,2})$/.test(n) && Number(n) < 256)
      .map((n) => asShareNum(Number(n)));
  }

  /** Entries of a folder; a missing folder has none. Listing holds a handle, so it is budgeted. */
  private async readdir(dir: string): Promise<string[]> {
    // A missing folder (every new storage index) is told by a lookup of a few µs: no thread-pool
    // trip, no error object (an ENOENT from fs.promises costs tens of µs of stack capture).
    if (!exists(dir)) return [];
    return this.handles.transient(async () => {
      try {
        return await fs.readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
    });
  }

  /** The kind of the container at `p` (null: missing, empty or neither). */
  private async kindOf(p: string): Promise<ShareKind | null> {
    try {
      return containerKind(await new DiskFile(this.handles, p, 'r').read(0, 32));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Makes `dir` and any missing parents, fsyncing each parent whose listing changed. */
  private async mkdirDurably(dir: string): Promise<void> {
    for (const d of (await this.makeFolder(dir)) ?? []) await this.syncDir(d);
  }

  /**
   * Makes `dir` and any missing parents, unsynced: null if `dir` was there already, else the
   * folders whose listing changed (for the caller to fsync), nearest first.
   */
  private async makeFolder(dir: string): Promise<string[] | null> {
    for (const kind of ['immutable', 'mutable'] as const)
      if (dir.startsWith(path.join(this.secondDir, kind) + path.sep)) this.secondKindUsed[kind] = true;
    const first = await fs.mkdir(dir, { recursive: true });
    if (first === undefined) return null;
    const changed: string[] = [];
    for (let d = dir; ; d = path.dirname(d)) {
      changed.push(path.dirname(d));
      if (d === first || d === path.dirname(d)) break;
    }
    return changed;
  }

  /**
   * fsyncs folder `dir`, sharing the work with concurrent callers: one whose call comes while
   * an fsync of `dir` runs waits for the next one (which starts after that one ends, so after
   * the caller's change), and every caller waiting for that next one shares it. Shares of new
   * storage indexes committed at once all change the folder of prefixes, for instance.
   */
  private syncDir(dir: string): Promise<void> {
    const at = this.dirSyncs.get(dir);
    if (at) {
      at.next ??= at.running.then(
        () => this.startDirSync(dir),
        () => this.startDirSync(dir),
      );
      return at.next;
    }
    return this.startDirSync(dir);
  }

  private startDirSync(dir: string): Promise<void> {
    const running = this.fsyncDir(dir);
    const entry = { running, next: null as Promise<void> | null };
    this.dirSyncs.set(dir, entry);
    const done = () => {
      // A next round, if any, took the entry over when it started.
      if (this.dirSyncs.get(dir) === entry) this.dirSyncs.delete(dir);
    };
    running.then(done, done);
    return running;
  }

  private fsyncDir(dir: string): Promise<void> {
    return this.handles.transient(async () => {
      const h = await fs.open(dir, 'r');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    });
  }
}

/**
 * A share file whose OS handle comes from the budget for each call (and usually stays
 * cached there), so holding a ShareFile costs no handle. fsync through a handle opened
 * later still flushes earlier writes: Linux syncs the file, not the handle, and reports a
 * writeback error to the next fsync that has not seen it.
 */
class DiskFile implements ShareFile {
  constructor(
    private readonly budget: HandleBudget,
    readonly path: string,
    private readonly mode: HandleMode,
    /** Flags for the first open (creating the file); later opens reopen it. */
    private createFlags?: string | number,
    /** Told the bytes of each write (the backend's free-space estimate). */
    private readonly onWrite?: (bytes: number) => void,
  ) {}

  /** Not opened yet: a file this one creates (its create flags) does not exist yet. */
  get unopened(): boolean {
    return this.createFlags !== undefined;
  }

  private use<T>(fn: (h: fs.FileHandle) => Promise<T>): Promise<T> {
    return this.budget.use(this.path, this.mode, () => this.open(), fn);
  }

  private async open(): Promise<fs.FileHandle> {
    if (this.createFlags === undefined) return fs.open(this.path, this.mode === 'r' ? 'r' : 'r+');
    const h = await fs.open(this.path, this.createFlags, 0o600);
    this.createFlags = undefined;
    return h;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    const got = await this.readInto(position, buf);
    return got === length ? buf : buf.subarray(0, got);
  }

  readInto(position: number, target: Uint8Array): Promise<number> {
    return this.use((h) => readFullyAt(h, target, position));
  }

  write(position: number, data: Uint8Array): Promise<void> {
    return this.use(async (h) => {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await h.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
      this.onWrite?.(data.length);
    });
  }

  async size(): Promise<number> {
    return (await this.use((h) => h.stat())).size;
  }

  truncate(length: number): Promise<void> {
    return this.use((h) => h.truncate(length));
  }

  sync(): Promise<void> {
    return this.use((h) => h.sync());
  }

  /** The handle belongs to the budget, which closes it when room is needed. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Whether `p` exists, by a synchronous lookup (cached by the kernel: no disk wait in practice). */
function exists(p: string): boolean {
  try {
    return statSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false; // a path through a file (ENOTDIR), or unreadable: nothing usable there
  }
}
