/** Every `cairn` subcommand, in the order `cairn --help` lists them. */
import type { Command } from '../command.ts';
import { addAliasCommand, createAliasCommand, listAliasesCommand } from './aliases.ts';
import { backupCommand } from './backup.ts';
import { capCommand } from './cap.ts';
import { cpCommand } from './cp.ts';
import { deepCheckCommand } from './deep-check.ts';
import { lnCommand, lsCommand, mkdirCommand, mvCommand, rmCommand } from './dir-ops.ts';
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
  createAliasCommand,
  addAliasCommand,
  listAliasesCommand,
  mkdirCommand,
  lsCommand,
  lnCommand,
  mvCommand,
  rmCommand,
  cpCommand,
  backupCommand,
  capCommand,
  checkCommand,
  deepCheckCommand,
  serverCommand,
  relayCommand,
  debugCommand,
];
