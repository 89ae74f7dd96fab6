/**
 * Requests to other grid processes for their server lists and pushes (gossip between
 * servers, and the relay hearing of servers that never linked to it): each bounded in time
 * and in reply size, since a peer is anyone who announced a URL. Failures are noted in a
 * throttled log and come back as null, never thrown; stop() aborts everything in flight.
 */
import { concatBytes } from '../core/primitives/bytes.ts';
import { ProtocolError } from '../core/protocol/errors.ts';
import { MAX_ANNOUNCEMENT_BYTES, MAX_GRID_SERVERS } from '../core/protocol/limits.ts';
import type { ThrottledLog } from './log-throttle.ts';

/** The largest reply read from a peer: a full server list (a hostile peer sends no more). */
export const MAX_REPLY_BYTES = MAX_GRID_SERVERS * (MAX_ANNOUNCEMENT_BYTES + 128) + 64;

export class PeerRequests {
  private readonly inFlight = new Set<AbortController>();
  private stopped = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly log: ThrottledLog,
  ) {}

  /** The body of a successful answer, or null (the failure noted in the log). */
  async request(url: string, init: RequestInit): Promise<Uint8Array | null> {
    if (this.stopped) return null;
    const ctrl = new AbortController();
    this.inFlight.add(ctrl);
    const timer = setTimeout(() => ctrl.abort(), this.timeoutMs);
    try {
      const res = await fetch(url, { ...init, signal: ctrl.signal });
      const bytes = await readBounded(res, MAX_REPLY_BYTES);
      if (!res.ok) {
        this.log.note(
          `${new URL(url).host} answered ${res.status} to ${init.method} ${new URL(url).pathname}`,
        );
        return null;
      }
      return bytes;
    } catch (err) {
      if (!this.stopped) this.log.note(`cannot reach ${new URL(url).host}: ${(err as Error).message}`);
      return null;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(ctrl);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.inFlight) c.abort();
  }
}

/** A response's body, refused once it passes `max` bytes. */
async function readBounded(res: Response, max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      throw new ProtocolError('BAD_REQUEST', `the reply is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return concatBytes(...chunks);
}
