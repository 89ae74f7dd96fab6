/**
 * Leases on immutable shares: adding or renewing one for a client, and dropping expired
 * ones as Tahoe's expirer does. The records live in the share's container (Tahoe's
 * layout); the caller holds the storage index's lock.
 */
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { ShareBackend, ShareFile } from './backends/backend.ts';
import {
  decodeImmutableLeases,
  encodeImmutableLeases,
  encodeLeaseCount,
  IMMUTABLE_HEADER_BYTES,
  IMMUTABLE_LEASE_BYTES,
  IMMUTABLE_LEASE_COUNT_OFFSET,
  immutableLayout,
  type LeaseRequest,
  leaseFor,
} from './containers.ts';
import { addOrRenewLease } from './leases.ts';

export class ImmutableLeases {
  constructor(private readonly backend: ShareBackend) {}

  /**
   * Adds or renews a lease on immutable shares, in place, as Tahoe's ShareFile does: a
   * renewal rewrites 4 bytes (the expiry), a new lease appends its record and then bumps
   * the header's count.
   */
  async addOrRenew(si: StorageIndex, shares: readonly ShareNum[], req: LeaseRequest): Promise<void> {
    for (const sh of shares) {
      const f = await this.backend.openShare('immutable', si, sh, true);
      if (!f) continue;
      const { layout, leases } = await readImmutableLeases(f);
      const u = addOrRenewLease(leases, leaseFor(req, layout.version));
      if (u.changed === null) continue;
      const at = layout.leaseOffset + u.changed * IMMUTABLE_LEASE_BYTES;
      const lease = u.leases[u.changed];
      if (!lease) continue; // immutable containers have no empty slots
      const record = encodeImmutableLeases([lease]);
      if (u.how === 'renewed') {
        await f.write(at + 68, record.subarray(68)); // the expiry
      } else {
        await f.write(at, record);
      }
      if (u.how === 'added') {
        // The record must be on disk before the count that makes it part of the share.
        await f.sync();
        await f.write(IMMUTABLE_LEASE_COUNT_OFFSET, encodeLeaseCount(u.leases.length));
      }
      await f.sync();
    }
  }

  /**
   * Drops the leases of `si`'s immutable shares that expired by `nowSecs` and deletes the
   * shares left with none (after `forget(sh)`, so no cached reader outlives its share).
   */
  async expireByTime(
    si: StorageIndex,
    nowSecs: number,
    forget: (sh: ShareNum) => void,
  ): Promise<{ leasesRemoved: number; sharesDeleted: number }> {
    let leasesRemoved = 0;
    let sharesDeleted = 0;
    for (const sh of await this.backend.listShares('immutable', si)) {
      const f = await this.backend.openShare('immutable', si, sh, true);
      if (!f) continue;
      const { layout, leases } = await readImmutableLeases(f);
      const live = leases.filter((l) => l.expires > nowSecs);
      if (live.length === leases.length && live.length > 0) continue;
      leasesRemoved += leases.length - live.length;
      if (live.length === 0) {
        forget(sh);
        await this.backend.deleteShare('immutable', si, sh);
        sharesDeleted++;
        continue;
      }
      // Tahoe's cancel_lease: the kept records moved up in order, then the count, then the cut.
      await f.write(layout.leaseOffset, encodeImmutableLeases(live));
      await f.write(IMMUTABLE_LEASE_COUNT_OFFSET, encodeLeaseCount(live.length));
      await f.truncate(layout.leaseOffset + live.length * IMMUTABLE_LEASE_BYTES);
      await f.sync();
    }
    return { leasesRemoved, sharesDeleted };
  }
}

async function readImmutableLeases(f: ShareFile) {
  const layout = immutableLayout(await f.read(0, IMMUTABLE_HEADER_BYTES), await f.size());
  const leases = decodeImmutableLeases(
    await f.read(layout.leaseOffset, layout.leaseCount * IMMUTABLE_LEASE_BYTES),
  );
  return { layout, leases };
}
