/** Every `cairn` subcommand, in the order `cairn --help` lists them. */
import type { Command } from '../command.ts';
import { gridCommand } from './grid.ts';

export const commands: Command[] = [gridCommand];
