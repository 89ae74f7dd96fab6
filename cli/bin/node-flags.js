// Node flags for the commands whose process takes bulk data in: storage servers and relays.
// V8 set the old generation's limit from the few MiB such a process keeps live (~24 MiB for
// 9), and the share data it receives (buffers held while they are written out) reached it in
// tens of milliseconds: an incremental mark-compact every ~20 ms, 200+ per GiB a server took
// in, a third of its CPU. With 64 MiB of initial old space the buffers die in scavenges and
// no mark-compact runs at all: a server's CPU per GB written 2.3-3.3 -> 1.0-1.2 s, a 256 MiB
// `cairn put`'s ten servers 3.9-4.2 -> 2.3-2.5 CPU s; a client gains nothing (bench/README,
// 2026-12-07 21:45). Node refuses the flag in NODE_OPTIONS and V8 reads it only as it starts,
// so what starts such a process passes it (cairn.js restarts itself with it when not).

export const SERVICE_NODE_FLAGS = ['--initial-old-space-size=64'];

const SERVICE_COMMANDS = new Set(['server', 'relay']);

/** The flags `node` needs for the cairn command `command` (none for most). */
export function nodeFlagsFor(command) {
  return SERVICE_COMMANDS.has(command) ? SERVICE_NODE_FLAGS : [];
}

/** Whether this process already runs with `flags` (by name, whatever value it was given). */
export function runsWith(flags, execArgv = process.execArgv) {
  return flags.every((f) => execArgv.some((a) => a.split('=')[0] === f.split('=')[0]));
}
