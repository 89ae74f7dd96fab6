import { CairnError } from '../errors.ts';

/** A hash that disagrees with what the trusted root implies. */
export class BadHashError extends CairnError {
  constructor(message: string) {
    super('BAD_HASH', message);
  }
}

/** Too few hashes to connect a node to the trusted root. */
export class NotEnoughHashesError extends CairnError {
  constructor(message: string) {
    super('NOT_ENOUGH_HASHES', message);
  }
}
