/** `cairn debug <sub>`: low-level tools that work on local files, no grid needed. */
import { EXIT_USAGE, type Command } from '../command.ts';
import { debugCommands } from './debug/index.ts';

function usage(): string {
  const width = Math.max(0, ...debugCommands.map((c) => c.name.length));
  return [
    'usage: cairn debug <subcommand> [options]',
    '',
    ...debugCommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export const debugCommand: Command = {
  name: 'debug',
  summary: 'low-level tools: erasure coding, CHK and SSK caps, shares from local files',
  hasSubcommands: true,
  get usage() {
    return usage();
  },
  async run(argv) {
    const [name, ...rest] = argv;
    const sub = debugCommands.find((c) => c.name === name);
    if (!sub) {
      console.error(name ? `cairn debug: unknown subcommand '${name}'\n${usage()}` : usage());
      return EXIT_USAGE;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(sub.usage);
      return 0;
    }
    return sub.run(rest);
  },
};
