/**
 * Immutable-file caps, parsed and formatted exactly as Tahoe writes them
 * (reference/tahoe-formats.md §2.2, §2.9):
 *   URI:CHK:<base32 key>:<base32 UEB hash>:<k>:<N>:<size>
 *   URI:CHK-Verifier:<base32 storage index>:<base32 UEB hash>:<k>:<N>:<size>
 *   URI:LIT:<base32 data>
 * Numbers are decimal without leading zeros, so format(parse(s)) === s for every accepted s.
 */
import { base32Encode } from '../primitives/base32.ts';
import { TAG_KEY_TO_STORAGE_INDEX } from '../primitives/tags.ts';
import { taggedHash } from '../primitives/tagged-hash.ts';
import { type AesKey, asAesKey, asStorageIndex, type StorageIndex } from '../types.ts';
import { CapError } from './errors.ts';
import { base32Field, decimalField } from './fields.ts';

export interface ChkCap {
  readonly kind: 'chk';
  readonly key: AesKey;
  readonly uebHash: Uint8Array;
  readonly k: number;
  readonly n: number;
  readonly size: number;
}

export interface ChkVerifierCap {
  readonly kind: 'chk-verifier';
  readonly storageIndex: StorageIndex;
  readonly uebHash: Uint8Array;
  readonly k: number;
  readonly n: number;
  readonly size: number;
}

export interface LitCap {
  readonly kind: 'lit';
  readonly data: Uint8Array;
}

export type ImmutableCap = ChkCap | ChkVerifierCap | LitCap;

const CHK = 'URI:CHK:';
const CHK_VERIFIER = 'URI:CHK-Verifier:';
const LIT = 'URI:LIT:';

/** Storage index of a CHK file: a tagged hash of its key (§2.4). */
export function chkStorageIndex(key: AesKey): StorageIndex {
  return asStorageIndex(taggedHash(TAG_KEY_TO_STORAGE_INDEX, key, 16));
}

export function verifierOf(cap: ChkCap): ChkVerifierCap {
  const { uebHash, k, n, size } = cap;
  return { kind: 'chk-verifier', storageIndex: chkStorageIndex(cap.key), uebHash, k, n, size };
}

export function formatCap(cap: ImmutableCap): string {
  switch (cap.kind) {
    case 'lit':
      return LIT + base32Encode(cap.data);
    case 'chk':
      return `${CHK}${base32Encode(cap.key)}:${chkTail(cap)}`;
    case 'chk-verifier':
      return `${CHK_VERIFIER}${base32Encode(cap.storageIndex)}:${chkTail(cap)}`;
  }
}

function chkTail(cap: ChkCap | ChkVerifierCap): string {
  return `${base32Encode(cap.uebHash)}:${cap.k}:${cap.n}:${cap.size}`;
}

export function parseCap(text: string): ImmutableCap {
  if (typeof text !== 'string') throw new CapError('cap', 'a cap must be a string');
  if (text.startsWith(LIT)) return { kind: 'lit', data: base32Field(text.slice(LIT.length), 'data') };
  if (text.startsWith(CHK)) {
    const f = parseChkFields(text.slice(CHK.length), 'key');
    return { kind: 'chk', key: asAesKey(f.first), ...f.rest };
  }
  if (text.startsWith(CHK_VERIFIER)) {
    const f = parseChkFields(text.slice(CHK_VERIFIER.length), 'storage index');
    return { kind: 'chk-verifier', storageIndex: asStorageIndex(f.first), ...f.rest };
  }
  throw new CapError(
    'prefix',
    'not an immutable-file cap (expected URI:CHK:, URI:CHK-Verifier: or URI:LIT:)',
  );
}

/** Parse and require a particular kind. */
export function parseChkCap(text: string): ChkCap {
  const cap = parseCap(text);
  if (cap.kind !== 'chk') throw new CapError('prefix', `expected a URI:CHK: read cap, got a ${cap.kind} cap`);
  return cap;
}

function parseChkFields(body: string, firstName: string) {
  const parts = body.split(':');
  if (parts.length !== 5) {
    throw new CapError('fields', `a CHK cap has 5 fields after the prefix, this one has ${parts.length}`);
  }
  const first = base32Field(parts[0], firstName, 16);
  const uebHash = base32Field(parts[1], 'UEB hash', 32);
  const k = decimalField(parts[2], 'k');
  const n = decimalField(parts[3], 'N');
  const size = decimalField(parts[4], 'size');
  if (k < 1 || n > 256 || k > n)
    throw new CapError('k', `k and N must satisfy 1 <= k <= N <= 256, not ${k} and ${n}`);
  return { first, rest: { uebHash, k, n, size } };
}
