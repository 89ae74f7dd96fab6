/** How the server names a storage index in logs and lock keys. */
import { base32Encode } from '../core/primitives/base32.ts';
import type { StorageIndex } from '../core/types.ts';

/** A storage index as the logs show it: a prefix, enough to correlate, short of the whole. */
export function siPrefix(si: StorageIndex): string {
  return `${base32Encode(si).slice(0, 6)}…`;
}

export function siKey(si: StorageIndex): string {
  return base32Encode(si);
}
