/**
 * Firing a fault once a transfer has come a given way: `at(fraction)` gives a progress callback
 * that starts `fault()` the first time done/total reaches the fraction, and `settle()` waits for
 * it and says whether it had finished before the transfer ended (only then must the transfer
 * have felt it).
 */
export interface Trigger {
  /** For onProgress(done, total) callbacks. */
  progress(done: number, total: number): void;
  /** Fires now if it has not yet (for a transfer that ended before reaching the point). */
  fire(): void;
  readonly fired: boolean;
  /** Waits for the fault; true if it was complete before `endedAt` (ms, Date.now()). */
  settle(endedAt: number): Promise<boolean>;
}

export function trigger(fraction: number, fault: () => Promise<void> | void): Trigger {
  let running: Promise<void> | null = null;
  let doneAt = Number.POSITIVE_INFINITY;
  const fire = () => {
    if (running) return;
    running = Promise.resolve()
      .then(fault)
      .then(() => {
        doneAt = Date.now();
      });
    // Errors surface in settle().
    running.catch(() => {});
  };
  return {
    progress(done, total) {
      if (total > 0 && done >= fraction * total) fire();
    },
    fire,
    get fired() {
      return running !== null;
    },
    async settle(endedAt) {
      if (!running) return false;
      await running;
      return doneAt <= endedAt;
    },
  };
}
