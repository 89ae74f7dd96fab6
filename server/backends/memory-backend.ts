/**
 * Shares held in this process's memory: a real ShareBackend for servers whose shares need
 * not outlive them (tests of the server's logic, throwaway grids) and the reference the
 * conformance suite holds the others to. Nothing survives close(); unfinished uploads are
 * therefore never handed back by recoverUploads (there was no earlier run to keep them).
 * Immutable shares are kept as an object store keeps them: header and data written once at
 * commit, lease records apart (so the backends the suite compares differ in where leases live).
 */
import { base32Decode, base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import {
  encodeImmutableHeader,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  type ShareKind,
} from '../containers.ts';
import type {
  JournalRecord,
  LeaseStore,
  PendingShare,
  RecoveredUpload,
  ShareBackend,
  ShareFile,
  ShareLeases,
} from './backend.ts';
import { StitchedImmutableFile } from './stitched-immutable.ts';

export interface MemoryBackendOptions {
  /** Bytes the backend reports it can take (default 1 GiB); shares count against it. */
  capacity?: number;
}

/** A growable byte array behind the ShareFile interface. */
export class MemoryFile implements ShareFile {
  private buf = new Uint8Array(0);
  private length = 0;

  constructor(private readonly onResize: (delta: number) => void = () => {}) {}

  /** The bytes written (a view: copy before keeping). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.length, position + length);
    return position >= end ? new Uint8Array(0) : this.buf.slice(position, end);
  }

  async readInto(position: number, target: Uint8Array): Promise<number> {
    const end = Math.min(this.length, position + target.length);
    if (position >= end) return 0;
    target.set(this.buf.subarray(position, end));
    return end - position;
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    this.ensure(position + data.length);
    this.buf.set(data, position);
  }

  async size(): Promise<number> {
    return this.length;
  }

  async truncate(length: number): Promise<void> {
    if (length < this.length) {
      this.buf.fill(0, length, this.length);
      this.onResize(length - this.length);
      this.length = length;
    } else this.ensure(length);
  }

  async sync(): Promise<void> {}
  async close(): Promise<void> {}

  /** Another view of the same bytes, read-only or not. */
  view(writable: boolean): ShareFile {
    return {
      read: (p, n) => this.read(p, n),
      readInto: (p, t) => this.readInto(p, t),
      write: (p, d) => (writable ? this.write(p, d) : Promise.reject(new Error('share opened read-only'))),
      size: () => this.size(),
      truncate: (n) => (writable ? this.truncate(n) : Promise.reject(new Error('share opened read-only'))),
      sync: async () => {},
      close: async () => {},
    };
  }

  private ensure(end: number): void {
    if (end <= this.length) return;
    if (end > this.buf.length) {
      // Doubling keeps appends by small writes linear.
      const next = new Uint8Array(Math.max(end, this.buf.length * 2, 4096));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.onResize(end - this.length);
    this.length = end;
  }
}

export class MemoryBackend implements ShareBackend {
  readonly writesVisibleBeforeSync = true;
  /** Mutable containers whole; immutable ones up to their data (header and data, written once). */
  private readonly shares = new Map<string, MemoryFile>();
  /** The lease records of immutable shares, by share key: apart from the data, as an object store keeps them. */
  private readonly leaseRecords = new Map<string, ShareLeases>();
  readonly leases: LeaseStore = {
    get: async (si, sh) => {
      const r = this.leaseRecords.get(shareKey('immutable', si, sh));
      return r ? { version: r.version, leases: [...r.leases] } : null;
    },
    set: async (si, sh, leases) => {
      const key = shareKey('immutable', si, sh);
      const r = this.leaseRecords.get(key);
      if (!r) return;
      this.used += (leases.length - r.leases.length) * IMMUTABLE_LEASE_BYTES;
      this.leaseRecords.set(key, { version: r.version, leases: [...leases] });
    },
  };
  private readonly journalMap = new Map<string, Uint8Array>();
  private readonly advisories = new Map<string, string>();
  private readonly capacity: number;
  private used = 0;

  constructor(opts: MemoryBackendOptions = {}) {
    this.capacity = opts.capacity ?? 2 ** 30;
  }

  async init(): Promise<void> {}

  async recoverUploads(): Promise<RecoveredUpload[]> {
    return [];
  }

  async close(): Promise<void> {}

  async freeBytes(): Promise<number> {
    return Math.max(0, this.capacity - this.used);
  }

  async *listStorageIndexes(): AsyncIterable<StorageIndex> {
    const seen = new Set<string>();
    for (const key of [...this.shares.keys()]) {
      const name = key.split('/')[1];
      if (seen.has(name)) continue;
      seen.add(name);
      yield asStorageIndex(base32Decode(name));
    }
  }

  async storageIndexesIn(prefix: string): Promise<StorageIndex[]> {
    if (!/^[a-z2-7]{2}$/.test(prefix)) throw new Error(`not a storage index prefix: '${prefix}'`);
    const names = new Set<string>();
    for (const key of this.shares.keys()) {
      const name = key.split('/')[1];
      if (name.startsWith(prefix)) names.add(name);
    }
    return [...names].sort().map((n) => asStorageIndex(base32Decode(n)));
  }

  async listShares(kind: ShareKind, si: StorageIndex): Promise<ShareNum[]> {
    const head = `${kind}/${base32Encode(si)}/`;
    const out: ShareNum[] = [];
    for (const key of this.shares.keys()) {
      if (key.startsWith(head)) out.push(asShareNum(Number(key.slice(head.length))));
    }
    return out.sort((a, b) => a - b);
  }

  async openShare(
    kind: ShareKind,
    si: StorageIndex,
    sh: ShareNum,
    writable: boolean,
  ): Promise<ShareFile | null> {
    const key = shareKey(kind, si, sh);
    const f = this.shares.get(key);
    if (!f) return null;
    if (kind === 'mutable') return f.view(writable);
    const r = this.leaseRecords.get(key);
    if (!r) return null;
    const header = await f.read(0, IMMUTABLE_HEADER_BYTES);
    return new StitchedImmutableFile((p, t) => f.readInto(p, t), header, await f.size(), r.leases);
  }

  async openOrCreateMutable(si: StorageIndex, sh: ShareNum): Promise<ShareFile> {
    const key = shareKey('mutable', si, sh);
    let f = this.shares.get(key);
    if (!f) {
      f = this.newFile();
      this.shares.set(key, f);
    }
    return f.view(true);
  }

  async createMutable(si: StorageIndex, sh: ShareNum, bytes: Uint8Array): Promise<void> {
    const f = this.newFile();
    await f.write(0, bytes);
    this.shares.set(shareKey('mutable', si, sh), f);
  }

  createPending(si: StorageIndex, sh: ShareNum): PendingShare {
    const file = this.newFile();
    let done = false;
    return {
      file,
      commit: async ({ dataLength, leases, data }) => {
        if (done) throw new Error('share already committed or discarded');
        if (data) await file.write(IMMUTABLE_HEADER_BYTES, data);
        // Kept as an object store keeps it: the container up to its data, and the leases apart.
        await file.write(0, encodeImmutableHeader(dataLength, leases.length));
        await file.truncate(IMMUTABLE_HEADER_BYTES + dataLength);
        done = true;
        await this.deleteShare('immutable', si, sh);
        const key = shareKey('immutable', si, sh);
        this.shares.set(key, file);
        this.leaseRecords.set(key, { version: 2, leases: [...leases] });
        this.used += leases.length * IMMUTABLE_LEASE_BYTES;
      },
      discard: async () => {
        if (done) return;
        done = true;
        this.used -= await file.size();
      },
      checkpoint: async () => {
        if (done) throw new Error('share already committed or discarded');
      },
      release: async () => {},
    };
  }

  async deleteShare(kind: ShareKind, si: StorageIndex, sh: ShareNum): Promise<void> {
    const key = shareKey(kind, si, sh);
    const f = this.shares.get(key);
    if (!f) return;
    this.shares.delete(key);
    this.used -= await f.size();
    const r = this.leaseRecords.get(key);
    this.leaseRecords.delete(key);
    if (r) this.used -= r.leases.length * IMMUTABLE_LEASE_BYTES;
  }

  async writeJournal(si: StorageIndex, bytes: Uint8Array): Promise<void> {
    this.journalMap.set(base32Encode(si), bytes.slice());
  }

  async removeJournal(si: StorageIndex): Promise<void> {
    this.journalMap.delete(base32Encode(si));
  }

  async *journals(): AsyncIterable<JournalRecord> {
    for (const [name, bytes] of [...this.journalMap]) {
      yield { si: asStorageIndex(base32Decode(name)), bytes: bytes.slice() };
    }
  }

  async recordAdvisory(name: string, text: string): Promise<void> {
    this.advisories.set(name, text);
  }

  async advisoryNames(): Promise<string[]> {
    return [...this.advisories.keys()];
  }

  private newFile(): MemoryFile {
    return new MemoryFile((delta) => {
      this.used += delta;
    });
  }
}

function shareKey(kind: ShareKind, si: StorageIndex, sh: ShareNum): string {
  return `${kind}/${base32Encode(si)}/${sh}`;
}
