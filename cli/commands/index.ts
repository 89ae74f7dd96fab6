/** Every `cairn` subcommand, in the order `cairn --help` lists them. */
import type { Command } from '../command.ts';
import { debugCommand } from './debug.ts';
import { gridCommand } from './grid.ts';

export const commands: Command[] = [gridCommand, debugCommand];
