/**
 * Space promised but not yet on disk: allocated uploads (their full size) and mutable
 * writes being applied (their growth). Callers read the free space first, then check and
 * book in one synchronous step, so two requests racing for the last bytes cannot both
 * be granted them (no await between the check and the booking).
 */
export class SpaceLedger {
  private booked = 0;

  constructor(readonly reserved: number) {}

  /** Bytes that may still be promised, given `free` bytes on disk. */
  available(free: number): number {
    return Math.max(0, free - this.reserved - this.booked);
  }

  /** Books `bytes` if they fit; false (and nothing booked) if not. */
  tryBook(free: number, bytes: number): boolean {
    if (bytes > this.available(free)) return false;
    this.booked += bytes;
    return true;
  }

  release(bytes: number): void {
    this.booked -= bytes;
  }

  get promised(): number {
    return this.booked;
  }
}
