/**
 * Uploads in progress, remembered in this browser's IndexedDB so that one interrupted by a
 * closed tab, a reload or a crash can be resumed: the file's name, size and date, the
 * encoding it was started with, its storage index, and for a random-key upload its key (a
 * convergent key comes back from the file itself). Never the file's bytes. A record is
 * written before any share leaves the tab and deleted when the upload finishes, is
 * cancelled, or is dismissed. A key kept here is as sensitive as the caps in history.
 *
 * Where the browser gave a FileSystemFileHandle for the file (Chromium, for dropped files),
 * the handle is kept too: the file can then be read again after a reload, with the user's
 * permission, without being chosen again.
 */
import { createStore as createIdbStore, del, get, set, values } from 'idb-keyval';

export interface PendingUploadRecord {
  /** Random id; also the record's key. */
  id: string;
  name: string;
  size: number;
  /** File.lastModified when the upload started. */
  lastModified: number;
  type: string;
  /** The encoding it was started with (resuming uses these, not today's settings). */
  params: { k: number; happy: number; n: number; convergence: boolean };
  /** Base32 storage index: a re-chosen file must lead to the same one. */
  si: string;
  /** The AES key of a random-key upload (absent for convergent uploads). */
  key?: Uint8Array;
  /** The file, where the browser gave a handle to it. */
  handle?: FileSystemFileHandle;
  /** When it started, ms since the epoch. */
  started: number;
}

const db = () => createIdbStore('cairn-uploads', 'pending');

export function newPendingId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function savePendingUpload(rec: PendingUploadRecord): Promise<void> {
  return set(rec.id, rec, db());
}

export function deletePendingUpload(id: string): Promise<void> {
  return del(id, db());
}

export function readPendingUpload(id: string): Promise<PendingUploadRecord | undefined> {
  return get<PendingUploadRecord>(id, db());
}

/** Every record that looks whole, oldest first. */
export async function listPendingUploads(): Promise<PendingUploadRecord[]> {
  const all = await values<PendingUploadRecord>(db());
  return all.filter(isRecord).sort((a, b) => a.started - b.started);
}

function isRecord(r: unknown): r is PendingUploadRecord {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as Record<string, unknown>;
  const p = x.params as Record<string, unknown> | undefined;
  return (
    typeof x.id === 'string' &&
    typeof x.name === 'string' &&
    typeof x.size === 'number' &&
    typeof x.lastModified === 'number' &&
    typeof x.si === 'string' &&
    typeof p === 'object' &&
    p !== null &&
    typeof p.k === 'number' &&
    typeof p.happy === 'number' &&
    typeof p.n === 'number' &&
    typeof p.convergence === 'boolean' &&
    (x.key === undefined || (x.key instanceof Uint8Array && x.key.length === 16))
  );
}

/**
 * Pure: whether `file` can be the file of `rec` (same name, size and date). For a convergent
 * upload the storage index computed from its bytes is checked as well before anything is
 * sent as a continuation; a random-key upload has only these to go by.
 */
export function fileMatches(
  rec: Pick<PendingUploadRecord, 'name' | 'size' | 'lastModified'>,
  file: { name: string; size: number; lastModified: number },
): boolean {
  return file.name === rec.name && file.size === rec.size && file.lastModified === rec.lastModified;
}

/** Names of the uploads other tabs of this browser are running (their Web Locks). */
export async function uploadsRunningElsewhere(): Promise<Set<string>> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return new Set();
  const q = await locks.query();
  return new Set((q.held ?? []).map((l) => l.name ?? '').filter((n) => n.startsWith(LOCK_PREFIX)));
}

export const LOCK_PREFIX = 'cairn-upload-';

/**
 * Runs `fn` holding this upload's Web Lock, so another tab of this browser does not offer
 * to resume it while it runs (where the browser has no Web Locks, `fn` just runs).
 */
export async function whileRunning<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return fn();
  return locks.request(LOCK_PREFIX + id, fn) as Promise<T>;
}

/**
 * Resolves once no tab holds this upload's Web Lock (at once where the browser has none). A
 * shared request waits behind the running tab's exclusive one and is let go straight away.
 */
export async function whenNotRunning(id: string): Promise<void> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return;
  await locks.request(LOCK_PREFIX + id, { mode: 'shared' }, () => undefined);
}

/**
 * Other tabs of this browser are told when an upload's record is written, so that one already
 * open offers the upload if this tab goes away (without it, only tabs opened later would).
 */
const channel =
  typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('cairn-pending-uploads');

export function announcePendingUpload(): void {
  channel?.postMessage('saved');
}

export function onPendingUploadElsewhere(fn: () => void): void {
  channel?.addEventListener('message', fn);
}
