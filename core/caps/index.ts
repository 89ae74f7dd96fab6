/**
 * Every cap kind Cairn knows, behind one parser and one formatter, and the derivations
 * between authorities: write → read → verify (reference/tahoe-formats.md §2.2, §2.9, §4.3,
 * §5.2). A `Capability` is a discriminated union on `kind`; the per-format modules beside
 * this one do the byte work. A directory cap is `{ kind: 'dir', file }` around its backing
 * file's cap, and every derivation goes through that file cap.
 */
import { base32Encode } from '../primitives/base32.ts';
import type { StorageIndex } from '../types.ts';
import {
  DIRECTORY_TYPES,
  type DirectoryCap,
  type DirectoryVerifierCap,
  formatDirectoryCap,
  parseDirectoryCap,
  type ReadOnlyDirectoryCap,
  type WritableDirectoryCap,
} from './directory.ts';
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

export type {
  DirectoryCap,
  DirectoryVerifierCap,
  DirFileCap,
  ReadOnlyDirectoryCap,
  WritableDirectoryCap,
} from './directory.ts';
export { isMutableDirectory } from './directory.ts';
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

/** Caps of files (as opposed to directories). */
export type FileCap = ImmutableCap | MutableCap;
export type Capability = FileCap | DirectoryCap;
export type CapabilityKind = Capability['kind'];

/** Caps that can read the file or directory: everything but the verify caps. */
export type ReadableCap =
  | LitCap
  | ChkCap
  | MutableWriteCap
  | MutableReadCap
  | WritableDirectoryCap
  | ReadOnlyDirectoryCap;
/** Caps that read but cannot change. */
export type ReadOnlyCap = LitCap | ChkCap | MutableReadCap | ReadOnlyDirectoryCap;
/** Caps that find and check shares but cannot read them. */
export type VerifierCap = ChkVerifierCap | MutableVerifierCap | DirectoryVerifierCap;
/** Caps that can change what they name. */
export type WritableCap = MutableWriteCap | WritableDirectoryCap;

/** Type words after `URI:` that name a file cap; directories add DIRECTORY_TYPES. */
const FILE_TYPES = [
  'LIT',
  'CHK',
  'CHK-Verifier',
  'SSK',
  'SSK-RO',
  'SSK-Verifier',
  'MDMF',
  'MDMF-RO',
  'MDMF-Verifier',
];
const KNOWN_TYPES = new Set([...FILE_TYPES, ...DIRECTORY_TYPES]);
const KNOWN = [...KNOWN_TYPES].map((t) => `URI:${t}:`).join(', ');

/** The type word between `URI:` and the next colon, which picks the parser. */
function typeWord(text: string): string | undefined {
  return /^URI:([A-Za-z0-9-]+):/.exec(text)?.[1];
}

/** Parses any cap Cairn knows; a CapError names the faulty field (never quoting the text). */
export function parseCapability(text: string): Capability {
  if (typeof text !== 'string') throw new CapError('cap', 'a cap must be a string');
  const type = typeWord(text);
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
    case undefined:
      throw new CapError('prefix', 'not a cap: a cap starts with URI: and its type, e.g. URI:CHK:');
    default:
      if (DIRECTORY_TYPES.includes(type)) return parseDirectoryCap(text);
      // The text is not echoed: a mangled cap may have a key where its type word should be.
      throw new CapError('prefix', `not a cap kind Cairn knows (${KNOWN})`);
  }
}

/**
 * Whether `text` (after an `ro.` or `imm.` prefix) claims to be a kind Cairn knows, well formed
 * or not. Directories keep caps of other kinds as they are (a later release's caps, §5.2),
 * while a malformed cap of a known kind is an error.
 */
export function isKnownCapKind(text: string): boolean {
  const type = typeWord(stripClaim(text).text);
  return type !== undefined && KNOWN_TYPES.has(type);
}

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
    case 'dir':
      return formatDirectoryCap(cap);
  }
}

export function isReadable(cap: Capability): cap is ReadableCap {
  const file = cap.kind === 'dir' ? cap.file : cap;
  return file.kind !== 'chk-verifier' && file.kind !== 'ssk-verifier';
}

export function isWritable(cap: Capability): cap is WritableCap {
  return (cap.kind === 'dir' ? cap.file : cap).kind === 'ssk-write';
}

/** A cap that can read something that may change: a mutable file's or directory's write or read cap. */
export function isMutableReadable(cap: Capability): boolean {
  const kind = (cap.kind === 'dir' ? cap.file : cap).kind;
  return kind === 'ssk-write' || kind === 'ssk-read';
}

/** The read-only form: a write cap gives its read cap; read-only caps are their own; verify caps have none. */
export function readOnlyOf(cap: MutableWriteCap | MutableReadCap): MutableReadCap;
export function readOnlyOf(cap: WritableDirectoryCap | ReadOnlyDirectoryCap): ReadOnlyDirectoryCap;
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
    case 'dir': {
      const file = readOnlyOf(cap.file) as LitCap | ChkCap | MutableReadCap | null;
      if (file === null) return null;
      return file === cap.file ? (cap as ReadOnlyDirectoryCap) : { kind: 'dir', file };
    }
  }
}

/**
 * The verify cap: derived from any readable cap, a verify cap is its own. LIT caps (and
 * DIR2-LIT) have none (the data is in the cap; there are no shares to check).
 */
export function verifierOf(cap: LitCap): null;
export function verifierOf(cap: ChkCap | ChkVerifierCap): ChkVerifierCap;
export function verifierOf(cap: MutableCap): MutableVerifierCap;
export function verifierOf(cap: Exclude<FileCap, LitCap>): VerifierCap;
export function verifierOf(cap: DirectoryCap): DirectoryVerifierCap | null;
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
    case 'dir': {
      const file = verifierOf(cap.file) as ChkVerifierCap | MutableVerifierCap | null;
      if (file === null) return null;
      return file === cap.file ? (cap as DirectoryVerifierCap) : { kind: 'dir', file };
    }
  }
}

/** Where servers keep the shares; LIT caps (and DIR2-LIT) have none (nothing is stored). */
export function storageIndexOf(cap: LitCap): null;
export function storageIndexOf(cap: Exclude<FileCap, LitCap>): StorageIndex;
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
    case 'dir':
      return storageIndexOf(cap.file);
  }
}

// ---- caps embedded in directories: `ro.` and `imm.` (§5.2) --------------------------------

/** What a prefix alleges about a cap: it cannot write (`ro.`), or cannot read anything that changes (`imm.`). */
export type CapClaim = 'read-only' | 'immutable';

const CLAIM_PREFIX: Readonly<Record<CapClaim, string>> = { 'read-only': 'ro.', immutable: 'imm.' };

/** Splits an `ro.`/`imm.` prefix off (at most one, as Tahoe reads them). */
export function stripClaim(text: string): { text: string; claim: CapClaim | null } {
  if (text.startsWith(CLAIM_PREFIX.immutable)) return { text: text.slice(4), claim: 'immutable' };
  if (text.startsWith(CLAIM_PREFIX['read-only'])) return { text: text.slice(3), claim: 'read-only' };
  return { text, claim: null };
}

/** The stronger of two claims: immutable implies read-only. */
function strongest(a: CapClaim | null, b: CapClaim | null): CapClaim | null {
  return a === 'immutable' || b === 'immutable' ? 'immutable' : (a ?? b);
}

/**
 * Parses a cap as directories carry it: an `ro.` or `imm.` prefix is stripped and its claim
 * enforced, as is `context` (the claim the place itself makes: `immutable` inside an immutable
 * directory). As in Tahoe's uri.from_string: `read-only` refuses write caps; `immutable` also
 * refuses read caps of mutable files and directories. Verify caps satisfy both (they read
 * nothing). A CapError with field `claim` says which rule failed, without the cap.
 */
export function parseAllegedCap(
  text: string,
  context: CapClaim | null = null,
): { cap: Capability; claim: CapClaim | null } {
  if (typeof text !== 'string') throw new CapError('cap', 'a cap must be a string');
  const stripped = stripClaim(text);
  const claim = strongest(stripped.claim, context);
  const cap = parseCapability(stripped.text);
  if (claim !== null && isWritable(cap)) {
    throw new CapError('claim', `a write cap where only a ${claim} cap may be`);
  }
  if (claim === 'immutable' && isMutableReadable(cap)) {
    throw new CapError('claim', 'a cap to a mutable file or directory where only an immutable cap may be');
  }
  return { cap, claim };
}

/** A storage index as caps and Tahoe's tools print it (26 base32 characters). */
export function formatStorageIndex(si: StorageIndex): string {
  return base32Encode(si);
}
