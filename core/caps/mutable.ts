/**
 * Mutable-file caps (reference/tahoe-formats.md §4.3), parsed and formatted as Tahoe writes them:
 *   URI:SSK:<b32 writekey>:<b32 fingerprint>            URI:MDMF:…            write
 *   URI:SSK-RO:<b32 readkey>:<b32 fingerprint>          URI:MDMF-RO:…         read
 *   URI:SSK-Verifier:<b32 storage index>:<b32 fp>       URI:MDMF-Verifier:…   verify
 * SDMF and MDMF caps differ only in the prefix, so one record per authority carries a
 * `format`. MDMF parsers skip a trailing `:…` (hints old releases appended); writers emit
 * none, so format(parse(s)) === s for every canonical s.
 */
import {
  asFingerprint,
  asReadKey,
  asWriteKey,
  type Fingerprint,
  fingerprintOf,
  mutableStorageIndex,
  type ReadKey,
  readKeyOf,
  type WriteKey,
  writeKeyOf,
} from '../mutable/keys.ts';
import { base32Encode } from '../primitives/base32.ts';
import type { Pkcs8Der, SpkiDer } from '../primitives/rsa.ts';
import { asStorageIndex, type StorageIndex } from '../types.ts';
import { CapError } from './errors.ts';
import { base32Field } from './fields.ts';

/** SDMF: one segment per version; MDMF: many segments, each with its own salt. */
export type MutableFormat = 'sdmf' | 'mdmf';

/** Write authority: holds the write key, from which the read key and storage index follow. */
export interface MutableWriteCap {
  readonly kind: 'ssk-write';
  readonly format: MutableFormat;
  readonly writeKey: WriteKey;
  readonly fingerprint: Fingerprint;
}

/** Read authority. */
export interface MutableReadCap {
  readonly kind: 'ssk-read';
  readonly format: MutableFormat;
  readonly readKey: ReadKey;
  readonly fingerprint: Fingerprint;
}

/** Verify authority: finds and checks shares (storage index + key fingerprint), reads nothing. */
export interface MutableVerifierCap {
  readonly kind: 'ssk-verifier';
  readonly format: MutableFormat;
  readonly storageIndex: StorageIndex;
  readonly fingerprint: Fingerprint;
}

export type MutableCap = MutableWriteCap | MutableReadCap | MutableVerifierCap;

type Kind = MutableCap['kind'];

const PREFIXES: Record<MutableFormat, Record<Kind, string>> = {
  sdmf: { 'ssk-write': 'URI:SSK:', 'ssk-read': 'URI:SSK-RO:', 'ssk-verifier': 'URI:SSK-Verifier:' },
  mdmf: { 'ssk-write': 'URI:MDMF:', 'ssk-read': 'URI:MDMF-RO:', 'ssk-verifier': 'URI:MDMF-Verifier:' },
};

/** Name of the 16-byte first field of each kind, as error messages give it. */
const FIRST_FIELD: Record<Kind, string> = {
  'ssk-write': 'write key',
  'ssk-read': 'read key',
  'ssk-verifier': 'storage index',
};

/** The prefix → (kind, format) table, read from PREFIXES so the two cannot disagree. */
const BY_PREFIX = new Map<string, { kind: Kind; format: MutableFormat }>();
for (const format of ['sdmf', 'mdmf'] as const) {
  for (const kind of ['ssk-write', 'ssk-read', 'ssk-verifier'] as const) {
    BY_PREFIX.set(PREFIXES[format][kind], { kind, format });
  }
}

/** The write cap of a key pair (§4.2): keys in as DER bytes, the caller picks the format. */
export function mutableWriteCapOf(
  format: MutableFormat,
  privateKey: Pkcs8Der,
  publicKey: SpkiDer,
): MutableWriteCap {
  return {
    kind: 'ssk-write',
    format,
    writeKey: writeKeyOf(privateKey),
    fingerprint: fingerprintOf(publicKey),
  };
}

export function mutableReadCapOf(cap: MutableWriteCap | MutableReadCap): MutableReadCap {
  if (cap.kind === 'ssk-read') return cap;
  const { format, fingerprint } = cap;
  return { kind: 'ssk-read', format, readKey: readKeyOf(cap.writeKey), fingerprint };
}

export function mutableVerifierCapOf(cap: MutableCap): MutableVerifierCap {
  if (cap.kind === 'ssk-verifier') return cap;
  const { format, fingerprint } = cap;
  return { kind: 'ssk-verifier', format, storageIndex: mutableCapStorageIndex(cap), fingerprint };
}

/** Storage index = H(readkey) (§4.2); a verify cap carries it. */
export function mutableCapStorageIndex(cap: MutableCap): StorageIndex {
  switch (cap.kind) {
    case 'ssk-write':
      return mutableStorageIndex(readKeyOf(cap.writeKey));
    case 'ssk-read':
      return mutableStorageIndex(cap.readKey);
    case 'ssk-verifier':
      return cap.storageIndex;
  }
}

export function formatMutableCap(cap: MutableCap): string {
  const first =
    cap.kind === 'ssk-write' ? cap.writeKey : cap.kind === 'ssk-read' ? cap.readKey : cap.storageIndex;
  return `${PREFIXES[cap.format][cap.kind]}${base32Encode(first)}:${base32Encode(cap.fingerprint)}`;
}

export function parseMutableCap(text: string): MutableCap {
  if (typeof text !== 'string') throw new CapError('cap', 'a cap must be a string');
  const colon = text.indexOf(':', 'URI:'.length);
  const which = colon < 0 ? undefined : BY_PREFIX.get(text.slice(0, colon + 1));
  if (!which) {
    throw new CapError(
      'prefix',
      'not a mutable-file cap (expected URI:SSK:, URI:SSK-RO:, URI:SSK-Verifier:, URI:MDMF:, URI:MDMF-RO: or URI:MDMF-Verifier:)',
    );
  }
  const { kind, format } = which;
  const parts = text.slice(colon + 1).split(':');
  // MDMF: anything after a third colon is an old release's hint (§4.3); SDMF allows none.
  const fieldsOk = format === 'mdmf' ? parts.length >= 2 : parts.length === 2;
  if (!fieldsOk) {
    throw new CapError(
      'fields',
      format === 'mdmf'
        ? `an MDMF cap has 2 fields after the prefix (then optional hints), this one has ${parts.length}`
        : `an SDMF cap has 2 fields after the prefix, this one has ${parts.length}`,
    );
  }
  const first = base32Field(parts[0], FIRST_FIELD[kind], 16);
  const fingerprint = asFingerprint(base32Field(parts[1], 'fingerprint', 32));
  switch (kind) {
    case 'ssk-write':
      return { kind, format, writeKey: asWriteKey(first), fingerprint };
    case 'ssk-read':
      return { kind, format, readKey: asReadKey(first), fingerprint };
    case 'ssk-verifier':
      return { kind, format, storageIndex: asStorageIndex(first), fingerprint };
  }
}
