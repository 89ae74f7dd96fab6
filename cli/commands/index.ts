/** Every `cairn` subcommand, in the order `cairn --help` lists them. */
import type { Command } from '../command.ts';
import { capCommand } from './cap.ts';
import { checkCommand } from './check.ts';
import { debugCommand } from './debug.ts';
import { getCommand } from './get.ts';
import { gridCommand } from './grid.ts';
import { putCommand } from './put.ts';
import { relayCommand } from './relay.ts';
import { serverCommand } from './server.ts';

export const commands: Command[] = [
  gridCommand,
  putCommand,
  getCommand,
  capCommand,
  checkCommand,
  serverCommand,
  relayCommand,
  debugCommand,
];
