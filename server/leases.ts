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
  leases: Lease[];
  /** Index of the lease record that changed, or null when nothing did. */
  changed: number | null;
  how: 'renewed' | 'added' | 'replaced' | 'unchanged';
}

/** Adds `lease`, or renews the one with the same renew secret (expiry only grows). */
export function addOrRenewLease(leases: Lease[], lease: Lease, cap = MAX_LEASES_PER_SHARE): LeaseUpdate {
  const i = leases.findIndex((l) => equalBytes(l.renewHash, lease.renewHash));
  if (i >= 0) {
    if (leases[i].expires >= lease.expires) return { leases, changed: null, how: 'unchanged' };
    const out = leases.slice();
    out[i] = { ...out[i], expires: lease.expires };
    return { leases: out, changed: i, how: 'renewed' };
  }
  if (leases.length < cap) return { leases: [...leases, lease], changed: leases.length, how: 'added' };
  let earliest = 0;
  for (let j = 1; j < leases.length; j++) if (leases[j].expires < leases[earliest].expires) earliest = j;
  // A lease that would expire before all kept ones adds nothing to the share's life.
  if (leases[earliest].expires >= lease.expires) return { leases, changed: null, how: 'unchanged' };
  const out = leases.slice();
  out[earliest] = lease;
  return { leases: out, changed: earliest, how: 'replaced' };
}
