/**
 * Every cap kind Cairn knows, behind one parser and one formatter, and the derivations
 * between authorities: write → read → verify (reference/tahoe-formats.md §2.2, §2.9, §4.3).
 * A `Capability` is a discriminated union on `kind`; the per-format modules beside this one
 * do the byte work.
 */
import { base32Encode } from '../primitives/base32.ts';
import type { StorageIndex } from '../types.ts';
import { CapError } from './errors.ts';
import {
  type ChkCap,
  type ChkVerifierCap,
  chkStorageIndex,
  formatCap as formatImmutableCap,
  type ImmutableCap,
  type LitCap,
  parseCap as parseImmutableCap,
  verifierOf as chkVerifierOf,
} from './immutable.ts';
import {
  formatMutableCap,
  type MutableCap,
  type MutableReadCap,
  type MutableVerifierCap,
  type MutableWriteCap,
  mutableCapStorageIndex,
  mutableReadCapOf,
  mutableVerifierCapOf,
  parseMutableCap,
} from './mutable.ts';

export { CapError } from './errors.ts';
export type { ChkCap, ChkVerifierCap, ImmutableCap, LitCap } from './immutable.ts';
export type {
  MutableCap,
  MutableFormat,
  MutableReadCap,
  MutableVerifierCap,
  MutableWriteCap,
} from './mutable.ts';
export { mutableWriteCapOf } from './mutable.ts';

// Directory caps (DIR2, §5.2) join this union as their own kinds, each wrapping a file cap.
export type Capability = ImmutableCap | MutableCap;
export type CapabilityKind = Capability['kind'];

/** Caps that can read the file: everything but the verify caps. */
export type ReadableCap = LitCap | ChkCap | MutableWriteCap | MutableReadCap;
/** Caps that read but cannot change the file. */
export type ReadOnlyCap = LitCap | ChkCap | MutableReadCap;
/** Caps that find and check shares but cannot read them. */
export type VerifierCap = ChkVerifierCap | MutableVerifierCap;

/** Parses any cap Cairn knows; a CapError names the faulty field (never quoting the text). */
export function parseCapability(text: string): Capability {
  if (typeof text !== 'string') throw new CapError('cap', 'a cap must be a string');
  // The type word between `URI:` and the next colon picks the parser.
  const type = /^URI:([A-Za-z0-9-]+):/.exec(text)?.[1];
  switch (type) {
    case 'LIT':
    case 'CHK':
    case 'CHK-Verifier':
      return parseImmutableCap(text);
    case 'SSK':
    case 'SSK-RO':
    case 'SSK-Verifier':
    case 'MDMF':
    case 'MDMF-RO':
    case 'MDMF-Verifier':
      return parseMutableCap(text);
    // DIR2, DIR2-RO, DIR2-Verifier, DIR2-MDMF…, DIR2-CHK…, DIR2-LIT (§5.2) get their cases here.
    case undefined:
      throw new CapError('prefix', 'not a cap: a cap starts with URI: and its type, e.g. URI:CHK:');
    default:
      // The text is not echoed: a mangled cap may have a key where its type word should be.
      throw new CapError(
        'prefix',
        type.startsWith('DIR2')
          ? 'directory caps (URI:DIR2…) are not supported yet'
          : `not a cap kind Cairn knows (${KNOWN})`,
      );
  }
}

const KNOWN =
  'URI:LIT:, URI:CHK:, URI:CHK-Verifier:, URI:SSK:, URI:SSK-RO:, URI:SSK-Verifier:, URI:MDMF:, URI:MDMF-RO:, URI:MDMF-Verifier:';

export function formatCapability(cap: Capability): string {
  switch (cap.kind) {
    case 'lit':
    case 'chk':
    case 'chk-verifier':
      return formatImmutableCap(cap);
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verifier':
      return formatMutableCap(cap);
  }
}

export function isReadable(cap: Capability): cap is ReadableCap {
  return cap.kind !== 'chk-verifier' && cap.kind !== 'ssk-verifier';
}

export function isWritable(cap: Capability): cap is MutableWriteCap {
  return cap.kind === 'ssk-write';
}

/** The read-only form: a write cap gives its read cap; read-only caps are their own; verify caps have none. */
export function readOnlyOf(cap: MutableWriteCap | MutableReadCap): MutableReadCap;
export function readOnlyOf(cap: ReadableCap): ReadOnlyCap;
export function readOnlyOf(cap: Capability): ReadOnlyCap | null;
export function readOnlyOf(cap: Capability): ReadOnlyCap | null {
  switch (cap.kind) {
    case 'lit':
    case 'chk':
      return cap;
    case 'ssk-write':
    case 'ssk-read':
      return mutableReadCapOf(cap);
    case 'chk-verifier':
    case 'ssk-verifier':
      return null;
  }
}

/**
 * The verify cap: derived from any readable cap, a verify cap is its own. LIT caps have none
 * (the data is in the cap; there are no shares to check).
 */
export function verifierOf(cap: LitCap): null;
export function verifierOf(cap: ChkCap | ChkVerifierCap): ChkVerifierCap;
export function verifierOf(cap: MutableCap): MutableVerifierCap;
export function verifierOf(cap: Exclude<Capability, LitCap>): VerifierCap;
export function verifierOf(cap: Capability): VerifierCap | null;
export function verifierOf(cap: Capability): VerifierCap | null {
  switch (cap.kind) {
    case 'lit':
      return null;
    case 'chk':
      return chkVerifierOf(cap);
    case 'chk-verifier':
      return cap;
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verifier':
      return mutableVerifierCapOf(cap);
  }
}

/** Where servers keep the file's shares; LIT caps have none (nothing is stored). */
export function storageIndexOf(cap: LitCap): null;
export function storageIndexOf(cap: Exclude<Capability, LitCap>): StorageIndex;
export function storageIndexOf(cap: Capability): StorageIndex | null;
export function storageIndexOf(cap: Capability): StorageIndex | null {
  switch (cap.kind) {
    case 'lit':
      return null;
    case 'chk':
      return chkStorageIndex(cap.key);
    case 'chk-verifier':
      return cap.storageIndex;
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verifier':
      return mutableCapStorageIndex(cap);
  }
}

/** A storage index as caps and Tahoe's tools print it (26 base32 characters). */
export function formatStorageIndex(si: StorageIndex): string {
  return base32Encode(si);
}
