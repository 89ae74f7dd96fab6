/**
 * The one way tests wait for something to become true: a bounded poll that fails with a
 * clear message. No vitest import, so Playwright's side (test/e2e) uses it too.
 *
 *   await waitFor(async () => (await fetchGridServers(url)).length >= 10, {
 *     what: 'the relay to list 10 servers',
 *     detail: async () => `it lists ${(await fetchGridServers(url)).length}`,
 *   });
 *
 * The condition is checked at once, then every `intervalMs` until it returns a truthy value
 * (which waitFor returns) or `timeoutMs` has passed; then waitFor throws
 * "timed out after T ms waiting for WHAT (DETAIL; last check threw: …)". A check that throws
 * counts as "not yet" (its error is reported if time runs out), and a check that never
 * settles cannot hold the wait past its deadline.
 */

export interface WaitOptions {
  /** What is awaited, for the failure message: "waiting for <what>". */
  what: string;
  /** How long to wait in all. Default 20 s: generous for a loaded 2-core machine. */
  timeoutMs?: number;
  /** Pause between checks. Default 50 ms. */
  intervalMs?: number;
  /** The state seen when time runs out, added to the message (given 5 s at most). */
  detail?: () => string | Promise<string>;
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

const OUT_OF_TIME = Symbol('out of time');

/** `work()`'s outcome, or OUT_OF_TIME if it has not settled within `ms`. */
async function within<T>(work: () => T | Promise<T>, ms: number): Promise<T | typeof OUT_OF_TIME> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(work),
      new Promise<typeof OUT_OF_TIME>((resolve) => {
        timer = setTimeout(() => resolve(OUT_OF_TIME), Math.max(ms, 0));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function waitFor<T>(condition: () => T | Promise<T>, opts: WaitOptions): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let threw = false;
  let hung = false;
  for (;;) {
    try {
      const value = await within(condition, deadline - Date.now());
      if (value === OUT_OF_TIME) hung = true;
      else if (value) return value as Truthy<T>;
      threw = false;
    } catch (err) {
      threw = true;
      lastError = err;
    }
    const left = deadline - Date.now();
    if (hung || left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
  const notes: string[] = [];
  if (opts.detail) {
    try {
      const d = await within(opts.detail, 5_000);
      notes.push(d === OUT_OF_TIME ? 'its detail did not come in 5 s' : d);
    } catch (err) {
      notes.push(`its detail failed: ${message(err)}`);
    }
  }
  if (hung) notes.push('the last check never finished');
  if (threw) notes.push(`the last check threw: ${message(lastError)}`);
  throw new WaitTimeoutError(
    `timed out after ${timeoutMs} ms waiting for ${opts.what}${notes.length ? ` (${notes.join('; ')})` : ''}`,
  );
}
