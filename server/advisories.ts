/**
 * Corruption advisories: a client that found a bad share tells the server, which keeps a
 * note for its operator (Tahoe's corruption-advisories/ folder). Anyone can send them, so
 * what is kept is bounded (pure bookkeeping here; the server writes the files):
 *  - each keeps at most ADVISORY_REASON_CHARS of the client's reason (the rest is cut);
 *  - at most ADVISORIES_PER_SI per storage index and MAX_ADVISORIES in all (counted again
 *    from the folder at start, so restarts do not reset them): beyond, NO_SPACE;
 *  - at most ADVISORY_BURST at once, then one per ADVISORY_REFILL_MS: beyond, UNAVAILABLE.
 * The operator makes room by deleting files from the folder (and restarting).
 */
import { StorageError } from '../core/protocol/storage-api.ts';

export const ADVISORY_REASON_CHARS = 4096;
export const ADVISORIES_PER_SI = 16;
export const MAX_ADVISORIES = 1024;
export const ADVISORY_BURST = 32;
export const ADVISORY_REFILL_MS = 1000;

export class AdvisoryLimiter {
  private readonly perSi = new Map<string, number>();
  private total = 0;
  private tokens = ADVISORY_BURST;
  private refilledAt: number;

  constructor(private readonly now: () => number) {
    this.refilledAt = now();
  }

  /** Counts the advisories already kept (their file names). */
  load(names: string[]): void {
    for (const name of names) {
      const si = advisorySi(name);
      if (si === null) continue;
      this.total++;
      this.perSi.set(si, (this.perSi.get(si) ?? 0) + 1);
    }
  }

  /** Counts one more advisory about `si` (base32), or throws the typed refusal. */
  admit(si: string): void {
    if (this.total >= MAX_ADVISORIES) {
      throw new StorageError(
        'NO_SPACE',
        `the server keeps no more corruption advisories (${this.total} held)`,
      );
    }
    if ((this.perSi.get(si) ?? 0) >= ADVISORIES_PER_SI) {
      throw new StorageError(
        'NO_SPACE',
        `the server already keeps ${ADVISORIES_PER_SI} corruption advisories about this storage index`,
      );
    }
    const t = this.now();
    this.tokens = Math.min(
      ADVISORY_BURST,
      this.tokens + Math.max(0, t - this.refilledAt) / ADVISORY_REFILL_MS,
    );
    this.refilledAt = t;
    if (this.tokens < 1) {
      throw new StorageError('UNAVAILABLE', 'too many corruption advisories just now; try again later');
    }
    this.tokens--;
    this.total++;
    this.perSi.set(si, (this.perSi.get(si) ?? 0) + 1);
  }

  /** Gives back a count taken by admit() for an advisory that could not be written. */
  unadmit(si: string): void {
    this.total--;
    const n = (this.perSi.get(si) ?? 1) - 1;
    if (n > 0) this.perSi.set(si, n);
    else this.perSi.delete(si);
  }
}

/** A file name after Tahoe's (`<time>--<base32 SI>-<shnum>`), with the kind and a sequence number. */
export function advisoryName(
  when: Date,
  si: string,
  kind: 'immutable' | 'mutable',
  sh: number,
  seq: number,
): string {
  return `${when.toISOString().replace(/[:.]/g, '')}--${si}-${sh}-${kind}-${seq}`;
}

/** The storage index (base32) an advisory file is about, or null for a file that is not one. */
export function advisorySi(name: string): string | null {
  return /--([a-z2-7]{26})-\d+-/.exec(name)?.[1] ?? null;
}

/** The note kept: printable ASCII only, the reason cut to ADVISORY_REASON_CHARS. */
export function advisoryText(kind: 'immutable' | 'mutable', si: string, sh: number, reason: string): string {
  const clean = reason.replace(/[^\x20-\x7e]/g, '?');
  const kept =
    clean.length > ADVISORY_REASON_CHARS
      ? `${clean.slice(0, ADVISORY_REASON_CHARS)} [${clean.length - ADVISORY_REASON_CHARS} more characters not kept]`
      : clean;
  return `${kind} share ${sh} of storage index ${si}\nreason: ${kept}\n`;
}
