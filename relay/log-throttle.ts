/**
 * A log line per event is fine until someone floods the relay: then it is a disk filler.
 * `note(line)` logs the first line of a period at once and counts the rest, reported
 * with the latest of them when the next period begins.
 */
export class ThrottledLog {
  private periodStart = Number.NEGATIVE_INFINITY;
  private held = 0;
  private latest = '';

  constructor(
    private readonly log: (line: string) => void,
    private readonly periodMs = 10_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  note(line: string): void {
    const now = this.clock();
    if (now - this.periodStart >= this.periodMs) {
      this.flush();
      this.periodStart = now;
      this.log(line);
      return;
    }
    this.held++;
    this.latest = line;
  }

  /** Reports what was held back, if anything. */
  flush(): void {
    if (this.held > 0) this.log(`…and ${this.held} more like it (latest: ${this.latest})`);
    this.held = 0;
  }
}
