/** `cairn debug` subcommands; each lives in its own file beside this one. */
import type { Command } from '../../command.ts';
import { chkCommands } from './chk.ts';
import { fecCommands } from './fec.ts';
import { sskCommands } from './ssk.ts';

export const debugCommands: Command[] = [...fecCommands, ...chkCommands, ...sskCommands];
