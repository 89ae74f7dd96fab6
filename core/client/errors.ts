/** Errors of the client layer. Messages never carry a cap or key. */
import { CairnError } from '../errors.ts';

/** The cap cannot do what was asked: reading through a verify cap, writing through a read cap. */
export class CapAuthorityError extends CairnError {
  constructor(message: string) {
    super('NOT_AUTHORIZED', message);
  }
}
