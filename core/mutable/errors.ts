/**
 * Errors of the mutable share format. A share comes from an untrusted server, so every
 * fault names the share number and the field at fault; none carries a key, cap or plaintext.
 */
import { CairnError } from '../errors.ts';
import { ShareCorruptError } from '../immutable/errors.ts';

/** The fields of a mutable share a check can fail on. */
export type MutableShareField =
  | 'version'
  | 'prefix'
  | 'offsets'
  | 'pubkey'
  | 'signature'
  | 'share hash chain'
  | 'block hash tree'
  | 'salt'
  | 'block'
  | 'encprivkey';

/**
 * A mutable share whose bytes fail a check (bad hash, bad signature, inconsistent offsets,
 * truncated). A ShareCorruptError (code SHARE_CORRUPT), so the grid layer can drop the
 * share and use another exactly as it does for immutable shares.
 */
export class MutableShareCorruptError extends ShareCorruptError {
  readonly field: MutableShareField;
  constructor(shnum: number, field: MutableShareField, message: string, options?: { cause?: unknown }) {
    super(shnum, `${field}: ${message}`, options);
    this.field = field;
  }
}

/**
 * A share this code cannot read, though it may be well-formed: an unknown format version,
 * or sizes past what this implementation handles. Another share of the same version will
 * not do better; a newer Cairn might.
 */
export class UnsupportedMutableShareError extends CairnError {
  readonly shnum: number;
  constructor(shnum: number, message: string) {
    super('UNSUPPORTED_SHARE', `share ${shnum}: ${message}`);
    this.shnum = shnum;
  }
}
