/** Errors of writing a mutable file. Messages carry counts and share numbers, never caps or keys. */
import { CairnError } from '../errors.ts';

/**
 * Someone else changed the file between our look at the grid and our write (two writers
 * without coordination). Our version did not land everywhere; read the file again and
 * re-apply the change (MutableFileNode.modify does this by itself).
 */
export class UncoordinatedWriteError extends CairnError {
  /** The version this writer tried to publish (some of its shares may have landed). */
  attempted?: { seqnum: number; rootHash: Uint8Array };
  constructor(message = 'another writer changed the file at the same time; read it again and retry') {
    super('UNCOORDINATED_WRITE', message);
  }
}

/** Too few servers took the new version's shares. */
export class MutablePublishError extends CairnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PUBLISH_FAILED', message, options);
  }
}

/** The file has no recoverable version on the reachable servers. */
export class UnrecoverableFileError extends CairnError {
  constructor(message: string) {
    super('NOT_ENOUGH_SHARES', message);
  }
}
