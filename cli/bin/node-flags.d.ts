/** See node-flags.js. */
export const SERVICE_NODE_FLAGS: readonly string[];
export function nodeFlagsFor(command: string | undefined): readonly string[];
export function runsWith(flags: readonly string[], execArgv?: readonly string[]): boolean;
