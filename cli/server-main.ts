/**
 * Entry point of a storage server process started by `cairn grid`: the `cairn server`
 * command alone, bundled to plain JavaScript (cli/server-bundle.ts) so that each of the grid's
 * servers runs on bare Node, without the TypeScript loader's memory and start-up cost.
 */
import { serverCommand } from './commands/server.ts';
import { CairnError } from '../core/errors.ts';

try {
  process.exitCode = await serverCommand.run(process.argv.slice(2));
} catch (err) {
  console.error(
    `cairn server: ${(err as Error).message}${err instanceof CairnError ? ` [${err.code}]` : ''}`,
  );
  process.exitCode = 1;
}
