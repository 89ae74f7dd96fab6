/**
 * Leases on immutable shares: adding or renewing one for a client, and dropping expired
 * ones as Tahoe's expirer does. The records are the backend's LeaseStore's to keep (in
 * Tahoe's container on disk, apart from the data elsewhere); nothing here writes a share.
 * The caller holds the storage index's lock.
 */
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { ShareBackend } from './backends/backend.ts';
import { type LeaseRequest, leaseFor } from './containers.ts';
import { addOrRenewLease } from './leases.ts';

export class ImmutableLeases {
  constructor(private readonly backend: ShareBackend) {}

  /** Adds a lease to each share, or renews the one with the same renew secret (leases.ts). */
  async addOrRenew(si: StorageIndex, shares: readonly ShareNum[], req: LeaseRequest): Promise<void> {
    for (const sh of shares) {
      const held = await this.backend.leases.get(si, sh);
      if (!held) continue;
      const u = addOrRenewLease(held.leases, leaseFor(req, held.version));
      if (u.changed === null) continue;
      // Immutable shares have no empty slots: every record is a lease.
      await this.backend.leases.set(
        si,
        sh,
        u.leases.filter((l) => l !== null),
      );
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
      const held = await this.backend.leases.get(si, sh);
      if (!held) continue;
      const live = held.leases.filter((l) => l.expires > nowSecs);
      if (live.length === held.leases.length && live.length > 0) continue;
      leasesRemoved += held.leases.length - live.length;
      if (live.length === 0) {
        forget(sh);
        await this.backend.deleteShare('immutable', si, sh);
        sharesDeleted++;
        continue;
      }
      await this.backend.leases.set(si, sh, live);
    }
    return { leasesRemoved, sharesDeleted };
  }
}
