/**
 * A token bucket: up to `burst` events at once, then `perSecond` on average. The relay
 * keeps one per server link (announcements) and one shared by every link that holds no
 * listed server yet (newcomers), so a flood is refused before anything costly (a
 * signature check, a list update) is done for it.
 */
export interface BucketSpec {
  /** Events allowed at once (the bucket's size). */
  burst: number;
  /** Tokens added back per second. */
  perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly spec: BucketSpec,
    private readonly now: () => number = Date.now,
  ) {
    if (!(spec.burst >= 1) || !(spec.perSecond >= 0)) {
      throw new RangeError(`a token bucket needs burst >= 1 and perSecond >= 0, not ${JSON.stringify(spec)}`);
    }
    this.tokens = spec.burst;
    this.at = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token will be there (0 if one is); Infinity if none ever comes back. */
  msUntilToken(): number {
    this.refill();
    if (this.tokens >= 1) return 0;
    if (this.spec.perSecond === 0) return Number.POSITIVE_INFINITY;
    return Math.ceil(((1 - this.tokens) / this.spec.perSecond) * 1000);
  }

  private refill(): void {
    const t = this.now();
    // A clock that steps back adds nothing (and takes nothing away).
    const elapsed = Math.max(0, t - this.at);
    this.at = t;
    this.tokens = Math.min(this.spec.burst, this.tokens + (elapsed / 1000) * this.spec.perSecond);
  }
}
