/** `cairn`: one command, many verbs, all driving the same core library. */
import { type Command, EXIT_USAGE } from './command.ts';
import { commands } from './commands/index.ts';
import { EXIT_CODES_HELP, reportFailure } from './failure.ts';

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: cairn <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    "cairn <command> --help shows a command's options.",
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

/** `--help` anywhere asks for help, except that a command with subcommands passes it on. */
function wantsHelp(rest: string[], command: Command): boolean {
  const at = command.hasSubcommands ? rest.slice(0, 1) : rest;
  return at.includes('--help') || at.includes('-h') || (command.hasSubcommands === true && rest.length === 0);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`cairn: unknown command '${name}' (cairn --help lists them)`);
    return EXIT_USAGE;
  }
  if (wantsHelp(rest, command)) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    return reportFailure(name, err);
  }
}
