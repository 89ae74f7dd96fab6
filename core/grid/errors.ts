/** Errors of the grid client. Messages carry counts and share numbers, never a cap or key. */
import { CairnError } from '../errors.ts';
import { type UnhappinessCounts, unhappinessMessage } from './happiness.ts';

/**
 * An upload could not reach servers-of-happiness >= happy; no share was made visible. What
 * the servers received is kept by them for a while, so running the upload again resumes it.
 */
export class UploadUnhappinessError extends CairnError {
  readonly counts: UnhappinessCounts;
  constructor(counts: UnhappinessCounts, options?: { cause?: unknown }) {
    super('UNHAPPY', unhappinessMessage(counts), options);
    this.counts = counts;
  }
}

/** No storage servers could be found (relay unreachable and no cached list). */
export class NoServersError extends CairnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NO_SERVERS', message, options);
  }
}

/** The caller aborted (AbortSignal). */
export class CancelledError extends CairnError {
  constructor(message: string) {
    super('CANCELLED', message);
  }
}
