import { CairnError } from '../errors.ts';

/** A capability string that is not well formed; `field` names the part at fault. */
export class CapError extends CairnError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('BAD_CAP', message);
    this.field = field;
  }
}
