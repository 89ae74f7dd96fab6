/**
 * Per-key (e.g. per storage index) locks: `run` is exclusive, `shared` runs alongside other
 * shared tasks. Tasks start in arrival order (a waiting exclusive task holds back shared
 * ones behind it, so writers are not starved); different keys never wait for each other.
 */
interface KeyState {
  /** Shared tasks running, or -1 while an exclusive one runs. */
  active: number;
  queue: Array<{ exclusive: boolean; start: () => void }>;
}

export class KeyedLock {
  private readonly keys = new Map<string, KeyState>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.acquire(key, true, task);
  }

  shared<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.acquire(key, false, task);
  }

  private async acquire<T>(key: string, exclusive: boolean, task: () => Promise<T>): Promise<T> {
    let s = this.keys.get(key);
    if (!s) {
      s = { active: 0, queue: [] };
      this.keys.set(key, s);
    }
    if (s.queue.length === 0 && (exclusive ? s.active === 0 : s.active >= 0)) {
      s.active = exclusive ? -1 : s.active + 1;
    } else {
      const state = s;
      // The slot is taken for us (active updated) before we are woken.
      await new Promise<void>((start) => state.queue.push({ exclusive, start }));
    }
    try {
      return await task();
    } finally {
      if (exclusive) s.active = 0;
      else s.active--;
      this.next(key, s);
    }
  }

  private next(key: string, s: KeyState): void {
    while (s.queue.length > 0) {
      const head = s.queue[0];
      if (head.exclusive ? s.active !== 0 : s.active < 0) break;
      s.queue.shift();
      s.active = head.exclusive ? -1 : s.active + 1;
      head.start();
      if (head.exclusive) break;
    }
    if (s.active === 0 && s.queue.length === 0) this.keys.delete(key);
  }
}
