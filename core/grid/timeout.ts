/** Bounded waits on a server: a call that neither answers nor fails counts as a failure. */
import { StorageError } from '../protocol/storage-api.ts';

/** Resolves or rejects like `p`, or rejects with StorageError TIMEOUT after `ms` (no limit when ms <= 0). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return p;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new StorageError('TIMEOUT', `${what} did not answer within ${ms} ms`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
