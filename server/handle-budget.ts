/**
 * A bound on the file handles the storage server holds, shared by everything that opens a
 * file: share reads, uploads in progress, journals, advisories, directory listings and
 * fsyncs. Without it, file handles scale with what clients ask for (every upload in
 * progress held one), and a client could run the process out of them, after which reads,
 * lists and even new connections (sockets are handles too) fail with EMFILE.
 *
 * Opened share files stay cached by (path, mode) after use and are closed least recently
 * used first when room is needed, so a download's many reads of one share cost one open.
 * A caller holds a handle only for the duration of one call; nothing waits for another
 * handle while holding one, so callers queue but never deadlock.
 */
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

export type HandleMode = 'r' | 'rw';

interface Entry {
  key: string;
  path: string;
  handle: FileHandle;
  users: number;
  /** Closed as soon as its last user is done (its file was renamed or deleted). */
  doomed: boolean;
  used: boolean;
}

export class HandleBudget {
  /** Cached handles, least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private readonly opening = new Map<string, Promise<Entry>>();
  /** Handles open or being opened or closed: never more than `max`. */
  private held = 0;
  private waiters: Array<() => void> = [];
  /** closeAll was called: calls still running then (or after) leave nothing open. */
  private closed = false;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 2) throw new RangeError('a handle budget needs at least 2 handles');
  }

  /** Handles open right now (cached, in use, or transient). */
  get inUse(): number {
    return this.held;
  }

  /** Runs `fn` with an open handle on `path`, opening it with `open` if none is cached. */
  async use<T>(
    path: string,
    mode: HandleMode,
    open: () => Promise<FileHandle>,
    fn: (h: FileHandle) => Promise<T>,
  ): Promise<T> {
    const e = await this.acquire(`${mode}:${path}`, path, open);
    try {
      return await fn(e.handle);
    } finally {
      this.release(e);
    }
  }

  /** Runs `fn`, which may open (and must close) one handle of its own, e.g. a directory. */
  async transient<T>(fn: () => Promise<T>): Promise<T> {
    await this.slot();
    try {
      return await fn();
    } finally {
      this.free();
    }
  }

  /** Closes the cached handles of `path` (it is being renamed or deleted); busy ones close when done. */
  async forget(path: string): Promise<void> {
    for (const mode of ['r', 'rw'] as const) {
      const key = `${mode}:${path}`;
      const opening = this.opening.get(key);
      if (opening) await opening.catch(() => {});
      const e = this.entries.get(key);
      if (!e) continue;
      this.entries.delete(key);
      e.doomed = true;
      if (e.users === 0) await this.close(e);
    }
  }

  /** Closes cached handles not used since the last call (a quiet server keeps few open). */
  async closeIdle(): Promise<void> {
    for (const e of [...this.entries.values()]) {
      if (e.users > 0) continue;
      if (e.used) {
        e.used = false;
        continue;
      }
      this.entries.delete(e.key);
      await this.close(e);
    }
  }

  /** Closes every cached handle; from now on each handle closes after its use (the owner is stopping). */
  async closeAll(): Promise<void> {
    this.closed = true;
    for (const e of [...this.entries.values()]) {
      this.entries.delete(e.key);
      e.doomed = true;
      if (e.users === 0) await this.close(e);
    }
  }

  private async acquire(key: string, path: string, open: () => Promise<FileHandle>): Promise<Entry> {
    for (;;) {
      const cached = this.entries.get(key);
      if (cached) {
        // Most recently used goes last.
        this.entries.delete(key);
        this.entries.set(key, cached);
        cached.users++;
        cached.used = true;
        return cached;
      }
      const opening = this.opening.get(key);
      if (opening) {
        await opening.catch(() => {});
        continue;
      }
      await this.slot();
      if (this.entries.has(key) || this.opening.has(key)) {
        // Someone opened it while we waited for room.
        this.free();
        continue;
      }
      const p = open().then(
        (handle): Entry => ({ key, path, handle, users: 0, doomed: false, used: true }),
        (err) => {
          this.free();
          throw err;
        },
      );
      this.opening.set(key, p);
      try {
        const e = await p;
        e.doomed = this.closed;
        if (!this.closed) this.entries.set(key, e);
        e.users++;
        return e;
      } finally {
        this.opening.delete(key);
      }
    }
  }

  private release(e: Entry): void {
    e.users--;
    if (e.users > 0) return;
    if (e.doomed) void this.close(e);
    else this.wakeOne();
  }

  /** Takes room for one handle: closes the least recently used idle one, or waits. */
  private async slot(): Promise<void> {
    for (;;) {
      if (this.held < this.max) {
        this.held++;
        return;
      }
      const victim = this.idleVictim();
      if (victim) {
        // The victim's room passes straight to us (no wake-up for a waiter to race for it).
        this.entries.delete(victim.key);
        await closeQuietly(victim.handle);
        return;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  private idleVictim(): Entry | undefined {
    for (const e of this.entries.values()) if (e.users === 0) return e;
    return undefined;
  }

  private async close(e: Entry): Promise<void> {
    await closeQuietly(e.handle);
    this.free();
  }

  private free(): void {
    this.held--;
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }
}

async function closeQuietly(h: FileHandle): Promise<void> {
  try {
    await h.close();
  } catch {
    // Closing can only fail on a handle that is already gone.
  }
}

/**
 * The default budget: a quarter of the process's open-file limit, between 16 and 1024.
 * The rest is for sockets (every client connection and the relay link is one), Node's
 * own handles, and headroom.
 */
export function defaultHandleBudget(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return 256; // Not Linux: a budget that fits the usual 1024 limit.
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (!m) return 256;
  const soft = m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  return Math.max(16, Math.min(1024, Math.floor(soft / 4)));
}
