/** Errors of CHK encoding and decoding. Messages name shares and fields, never caps or keys. */
import { CairnError } from '../errors.ts';

/** A share whose bytes fail a check (bad hash, bad header, truncated); switch to another. */
export class ShareCorruptError extends CairnError {
  readonly shnum: number;
  constructor(shnum: number, message: string, options?: { cause?: unknown }) {
    super('SHARE_CORRUPT', `share ${shnum}: ${message}`, options);
    this.shnum = shnum;
  }
}

/** A share that could not be read at all (the reader threw). */
export class ShareUnavailableError extends CairnError {
  readonly shnum: number;
  constructor(shnum: number, options?: { cause?: unknown }) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('SHARE_UNAVAILABLE', `share ${shnum} could not be read${why}`, options);
    this.shnum = shnum;
  }
}

/** Fewer than k good shares remain. `problems` says what happened to the others. */
export class NotEnoughSharesError extends CairnError {
  readonly problems: readonly CairnError[];
  /** Shares a read needs (k) and good ones found, for callers that word the failure themselves. */
  readonly needed: number;
  readonly good: number;
  constructor(needed: number, good: number, problems: readonly CairnError[]) {
    const bad = problems.map((p) => (p as ShareCorruptError).shnum).filter((s) => s !== undefined);
    super(
      'NOT_ENOUGH_SHARES',
      `need ${needed} good shares, have ${good}` + (bad.length ? ` (failed: ${bad.join(', ')})` : ''),
    );
    this.problems = problems;
    this.needed = needed;
    this.good = good;
  }
}

/** Verified blocks decode to ciphertext the file's own hashes reject: the uploader was faulty. */
export class ChkIntegrityError extends CairnError {
  constructor(message: string) {
    super('CHK_INTEGRITY', message);
  }
}

/** A URI extension block that cannot be parsed or disagrees with its cap. */
export class UebError extends CairnError {
  constructor(message: string) {
    super('BAD_UEB', message);
  }
}
