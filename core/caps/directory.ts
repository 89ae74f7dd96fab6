/**
 * Directory caps (reference/tahoe-formats.md §5.2). A directory is a file holding its packed
 * children, and its cap is that file's cap with the type word swapped:
 *   URI:DIR2:…  ↔ URI:SSK:…        URI:DIR2-MDMF:…  ↔ URI:MDMF:…       URI:DIR2-CHK:… ↔ URI:CHK:…
 *   URI:DIR2-RO:… ↔ URI:SSK-RO:…   URI:DIR2-MDMF-RO:… ↔ URI:MDMF-RO:…  URI:DIR2-LIT:… ↔ URI:LIT:…
 *   URI:DIR2-Verifier:… ↔ URI:SSK-Verifier:…   URI:DIR2-MDMF-Verifier:…   URI:DIR2-CHK-Verifier:…
 * So a DirectoryCap is just `{ kind: 'dir', file }`: the fields, their checks and every
 * derivation are the backing file cap's. `URI:DIR2-LIT:` alone is the empty directory.
 */
import { CapError } from './errors.ts';
import {
  type ChkCap,
  type ChkVerifierCap,
  formatCap as formatImmutableCap,
  type ImmutableCap,
  type LitCap,
  parseCap as parseImmutableCap,
} from './immutable.ts';
import {
  formatMutableCap,
  type MutableCap,
  type MutableReadCap,
  type MutableVerifierCap,
  type MutableWriteCap,
  parseMutableCap,
} from './mutable.ts';

/** Every file cap a directory can live in: all of them. */
export type DirFileCap = ImmutableCap | MutableCap;

/** A directory cap: the cap of the file holding the directory's packed children. */
export interface DirectoryCap<F extends DirFileCap = DirFileCap> {
  readonly kind: 'dir';
  readonly file: F;
}

export type WritableDirectoryCap = DirectoryCap<MutableWriteCap>;
export type ReadOnlyDirectoryCap = DirectoryCap<MutableReadCap | ChkCap | LitCap>;
export type DirectoryVerifierCap = DirectoryCap<MutableVerifierCap | ChkVerifierCap>;

/** Directory type word → the backing file's type word (between `URI:` and the next colon). */
const FILE_TYPE: Readonly<Record<string, string>> = {
  DIR2: 'SSK',
  'DIR2-RO': 'SSK-RO',
  'DIR2-Verifier': 'SSK-Verifier',
  'DIR2-MDMF': 'MDMF',
  'DIR2-MDMF-RO': 'MDMF-RO',
  'DIR2-MDMF-Verifier': 'MDMF-Verifier',
  'DIR2-CHK': 'CHK',
  'DIR2-CHK-Verifier': 'CHK-Verifier',
  'DIR2-LIT': 'LIT',
};
const DIR_TYPE: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(FILE_TYPE).map(([dir, file]) => [file, dir]),
);

/** The directory type words, as parseCapability dispatches on them. */
export const DIRECTORY_TYPES: readonly string[] = Object.keys(FILE_TYPE);

export function parseDirectoryCap(text: string): DirectoryCap {
  if (typeof text !== 'string') throw new CapError('cap', 'a cap must be a string');
  const match = /^URI:([A-Za-z0-9-]+):/.exec(text);
  const fileType = match ? FILE_TYPE[match[1]] : undefined;
  if (!match || fileType === undefined) {
    throw new CapError(
      'prefix',
      `not a directory cap (expected ${DIRECTORY_TYPES.map((t) => `URI:${t}:`).join(', ')})`,
    );
  }
  const fileText = `URI:${fileType}:${text.slice(match[0].length)}`;
  const file =
    fileType.startsWith('SSK') || fileType.startsWith('MDMF')
      ? parseMutableCap(fileText)
      : parseImmutableCap(fileText);
  return { kind: 'dir', file };
}

export function formatDirectoryCap(cap: DirectoryCap): string {
  const fileText = isMutableFileCap(cap.file) ? formatMutableCap(cap.file) : formatImmutableCap(cap.file);
  const colon = fileText.indexOf(':', 4);
  return `URI:${DIR_TYPE[fileText.slice(4, colon)]}${fileText.slice(colon)}`;
}

function isMutableFileCap(cap: DirFileCap): cap is MutableCap {
  return cap.kind === 'ssk-write' || cap.kind === 'ssk-read' || cap.kind === 'ssk-verifier';
}

/** True for directories whose children can change (SSK/MDMF-backed), whatever the cap's authority. */
export function isMutableDirectory(cap: DirectoryCap): boolean {
  return isMutableFileCap(cap.file);
}
