/**
 * Errors of the directory format. Both name the entry (its index in the packed data or in the
 * children handed to the packer) and the field at fault, never a cap: an entry holds caps, and
 * messages end up in logs and on screens.
 */
import { CairnError } from '../errors.ts';

/** The fields of an entry (§5.1) and of a child record, as errors name them. */
export type DirField =
  | 'entry'
  | 'name'
  | 'ro_uri'
  | 'rwcapdata'
  | 'metadata'
  | 'writeCap'
  | 'readCap'
  | 'directory';

/** Packed directory bytes that are not a well-formed directory. */
export class DirectoryFormatError extends CairnError {
  readonly entry: number | null;
  readonly field: DirField;
  constructor(entry: number | null, field: DirField, message: string) {
    super('BAD_DIRECTORY', entry === null ? message : `directory entry ${entry}, ${field}: ${message}`);
    this.entry = entry;
    this.field = field;
  }
}

/** A child handed to the packer that the directory cannot hold as given. */
export class DirectoryChildError extends CairnError {
  readonly entry: number;
  readonly field: DirField;
  constructor(entry: number, field: DirField, message: string) {
    super('BAD_CHILD', `child ${entry}, ${field}: ${message}`);
    this.entry = entry;
    this.field = field;
  }
}

/** A value that Python's json.dumps would not write as metadata (or would write as something else). */
export class JsonValueError extends CairnError {
  constructor(message: string) {
    super('BAD_JSON', message);
  }
}
