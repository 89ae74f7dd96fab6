/** Renewing this client's lease on every share of a file that a check found. */
import { leaseSecretsFor } from '../grid/lease.ts';
import type { StorageServerApi } from '../protocol/storage-api.ts';
import type { StorageIndex } from '../types.ts';

/** Asks each server holding shares of `si` to add or renew our lease; returns how many did. */
export async function renewLeases(
  si: StorageIndex,
  holders: readonly StorageServerApi[],
  clientSecret: Uint8Array,
): Promise<number> {
  const unique = [...new Set(holders)];
  const done = await Promise.all(
    unique.map((server) =>
      server.addLease(si, leaseSecretsFor(clientSecret, si, server.serverId)).then(
        () => true,
        () => false,
      ),
    ),
  );
  return done.filter(Boolean).length;
}
