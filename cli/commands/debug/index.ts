/** `cairn debug` subcommands; each lives in its own file beside this one. */
import type { Command } from '../../command.ts';

export const debugCommands: Command[] = [];
