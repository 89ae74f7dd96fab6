/**
 * A committed immutable share, for backends that keep its lease records apart from its
 * data (memory, S3), seen as the Tahoe container the server reads: the header (its lease
 * count the current one), then the data, read by range from where the backend wrote it
 * once, then the lease records. Read-only: leases change through the backend's LeaseStore.
 */
import { StorageError } from '../../core/protocol/storage-api.ts';
import {
  encodeImmutableLeases,
  encodeLeaseCount,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_COUNT_OFFSET,
  type Lease,
} from '../containers.ts';
import type { ShareFile } from './backend.ts';

export class StitchedImmutableFile implements ShareFile {
  private readonly header: Uint8Array;
  private readonly tail: Uint8Array;

  /**
   * `readData(position, target)` fills `target` from the container bytes at `position`
   * (within the data: IMMUTABLE_HEADER_BYTES up to `dataEnd`) and returns how many it read.
   */
  constructor(
    private readonly readData: (position: number, target: Uint8Array) => Promise<number>,
    header: Uint8Array,
    private readonly dataEnd: number,
    leases: Lease[],
    /** Called when the file is closed (the backend lets go of what it held for it). */
    private readonly onClose: () => void = () => {},
  ) {
    this.header = header.slice(0, IMMUTABLE_HEADER_BYTES);
    this.header.set(encodeLeaseCount(leases.length), IMMUTABLE_LEASE_COUNT_OFFSET);
    this.tail = encodeImmutableLeases(leases);
  }

  async size(): Promise<number> {
    return this.dataEnd + this.tail.length;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.dataEnd + this.tail.length - position));
    const buf = new Uint8Array(n);
    const got = await this.readInto(position, buf);
    return got === n ? buf : buf.subarray(0, got);
  }

  async readInto(position: number, target: Uint8Array): Promise<number> {
    const end = Math.min(position + target.length, this.dataEnd + this.tail.length);
    let at = position;
    while (at < end) {
      if (at < IMMUTABLE_HEADER_BYTES) {
        const stop = Math.min(end, IMMUTABLE_HEADER_BYTES);
        target.set(this.header.subarray(at, stop), at - position);
        at = stop;
      } else if (at < this.dataEnd) {
        const stop = Math.min(end, this.dataEnd);
        const got = await this.readData(at, target.subarray(at - position, stop - position));
        if (got !== stop - at)
          throw new StorageError('UNAVAILABLE', 'a stored share is shorter than its header says');
        at = stop;
      } else {
        const from = at - this.dataEnd;
        target.set(this.tail.subarray(from, from + (end - at)), at - position);
        at = end;
      }
    }
    return Math.max(0, end - position);
  }

  async write(): Promise<void> {
    throw new Error(
      "an immutable share's bytes cannot change once committed (leases change through the LeaseStore)",
    );
  }

  async truncate(): Promise<void> {
    throw new Error(
      "an immutable share's bytes cannot change once committed (leases change through the LeaseStore)",
    );
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {
    this.onClose();
  }
}
