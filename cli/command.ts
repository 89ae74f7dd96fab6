/** The shape every `cairn` subcommand has, and the error that means "you typed it wrong". */
import { CairnError } from '../core/errors.ts';

export interface Command {
  /** The word typed after `cairn`. */
  readonly name: string;
  /** One line for `cairn --help`. */
  readonly summary: string;
  /** The full usage text for `cairn NAME --help`. */
  readonly usage: string;
  /** True when the command dispatches to subcommands, which handle their own --help. */
  readonly hasSubcommands?: boolean;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Bad arguments: printed as one line, exit code 2. */
export class UsageError extends CairnError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export { EXIT_USAGE } from './failure.ts';
