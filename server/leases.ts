/**
 * What happens to a share's leases when a client adds or renews one (pure).
 *
 * Anyone can add a lease (Tahoe's protocol has no other authority for it), so the number
 * per share is capped: without a cap, a stranger could grow any share by 72-92 bytes a
 * request. At the cap a new lease replaces the one that expires first. That is what
 * keeps the share's lifetime right: a share lives until its last lease expires, and a
 * renewal must always push that out to now + 31 days. Refusing the new lease instead
 * would let whoever filled the cap decide when the share dies: their leases run out
 * while the renewing owner's request was turned away. Replacing the earliest-expiring
 * lease never shortens the share's life, and its owner gets it back by renewing.
 */
import { equalBytes } from '../core/primitives/bytes.ts';
import type { Lease } from './containers.ts';

/** Distinct leases kept per share. */
export const MAX_LEASES_PER_SHARE = 64;

export interface LeaseUpdate {
  /** Every lease record afterwards, in place (null: an empty slot, which only mutable containers have). */
  leases: Array<Lease | null>;
  /** Index of the lease record that changed, or null when nothing did. */
  changed: number | null;
  how: 'renewed' | 'added' | 'replaced' | 'unchanged';
}

/**
 * Adds `lease`, or renews the one with the same renew secret (expiry only grows), as Tahoe's
 * add_or_renew_lease does: the first lease whose secret matches is renewed; a new lease
 * takes the first empty slot, else goes at the end. Positions are kept, so a container
 * changes only in the record touched (and, when a lease is appended, the count).
 */
export function addOrRenewLease(
  leases: Array<Lease | null>,
  lease: Lease,
  cap = MAX_LEASES_PER_SHARE,
): LeaseUpdate {
  const i = leases.findIndex((l) => l !== null && equalBytes(l.renewHash, lease.renewHash));
  if (i >= 0) {
    const old = leases[i] as Lease;
    if (old.expires >= lease.expires) return { leases, changed: null, how: 'unchanged' };
    const out = leases.slice();
    out[i] = { ...old, expires: lease.expires };
    return { leases: out, changed: i, how: 'renewed' };
  }
  const live = leases.filter((l) => l !== null).length;
  if (live < cap) {
    const empty = leases.indexOf(null);
    const at = empty >= 0 ? empty : leases.length;
    const out = leases.slice();
    out[at] = lease;
    return { leases: out, changed: at, how: 'added' };
  }
  let earliest = -1;
  leases.forEach((l, j) => {
    if (l && (earliest < 0 || l.expires < (leases[earliest] as Lease).expires)) earliest = j;
  });
  // A lease that would expire before all kept ones adds nothing to the share's life.
  if ((leases[earliest] as Lease).expires >= lease.expires)
    return { leases, changed: null, how: 'unchanged' };
  const out = leases.slice();
  out[earliest] = lease;
  return { leases: out, changed: earliest, how: 'replaced' };
}
