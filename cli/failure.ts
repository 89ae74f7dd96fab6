/**
 * How the CLI reports a failure: one line on stderr and an exit code a script can act on.
 * No stack trace unless CAIRN_DEBUG=1. Messages never carry a cap or key (core errors are
 * written that way; system errors name only the local path).
 *
 * Exit codes (documented in `cairn --help` and the README):
 *   0  success
 *   1  the operation failed: the grid, the network or the stored data (try again later, or
 *      see the message)
 *   2  bad usage or input: arguments, a malformed cap, a cap without the authority asked
 *      for, a local file that is missing or unreadable
 *   3  an internal error (a bug: please report it with CAIRN_DEBUG=1 output)
 *   130 interrupted (Ctrl-C)
 */
import { CairnError } from '../core/errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;
export const EXIT_INTERRUPTED = 130;

export const EXIT_CODES_HELP = `exit codes: 0 success, 1 the operation failed (grid, network, stored data),
  2 bad usage or input (arguments, cap, local file), 3 internal error, 130 interrupted.
  CAIRN_DEBUG=1 prints stack traces.`;

/** Codes of core errors that mean "the input was wrong", not "the grid failed". */
const INPUT_CODES = new Set([
  'USAGE',
  'BAD_CAP',
  'BAD_KEY',
  'BAD_INPUT',
  'NOT_AUTHORIZED',
  'SOURCE_CHANGED',
  'NO_SUCH_CHILD',
  'CHILD_EXISTS',
  'NOT_A_DIRECTORY',
  'IS_A_DIRECTORY',
  'BAD_NAME',
  'BAD_CHILD',
]);

interface SystemError extends Error {
  code?: string;
  path?: string;
  dest?: string;
  syscall?: string;
}

/** Local-file and OS errors in words, with what to do. */
function systemLine(err: SystemError): { line: string; exit: number } | null {
  const where = err.path ?? '';
  switch (err.code) {
    case 'ENOENT':
      return { line: `${where} does not exist`, exit: EXIT_USAGE };
    case 'ENOTDIR':
      return { line: `a part of ${where} is not a folder`, exit: EXIT_USAGE };
    case 'EISDIR':
      return { line: `${err.dest ?? where} is a folder; give the path of a file`, exit: EXIT_USAGE };
    case 'EACCES':
    case 'EPERM':
      return { line: `permission denied: ${where}`, exit: EXIT_USAGE };
    case 'EEXIST':
      return { line: `${where} already exists`, exit: EXIT_USAGE };
    case 'ENOSPC':
      return { line: `no space left on the device holding ${where || 'the output'}`, exit: EXIT_FAILED };
    case 'EROFS':
      return { line: `${where} is on a read-only file system`, exit: EXIT_USAGE };
    case 'EMFILE':
    case 'ENFILE':
      return { line: 'too many open files: raise the limit (ulimit -n) and try again', exit: EXIT_FAILED };
    case 'EPIPE':
      return { line: 'the output was closed before everything was written', exit: EXIT_FAILED };
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ETIMEDOUT':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return {
        line: `network error (${err.code}): check the grid address and that it is running`,
        exit: EXIT_FAILED,
      };
    default:
      return null;
  }
}

export function describeFailure(err: unknown): { line: string; exit: number } {
  if (err instanceof CairnError) {
    if (INPUT_CODES.has(err.code)) return { line: err.message, exit: EXIT_USAGE };
    if (err.code === 'CANCELLED') return { line: err.message, exit: EXIT_INTERRUPTED };
    return { line: `${err.message} [${err.code}]`, exit: EXIT_FAILED };
  }
  if (err instanceof Error) {
    const sys = systemLine(err as SystemError);
    if (sys) return sys;
    return { line: `internal error: ${err.message} (CAIRN_DEBUG=1 shows where)`, exit: EXIT_INTERNAL };
  }
  return { line: `internal error: ${String(err)}`, exit: EXIT_INTERNAL };
}

/** Prints `err` for command `name` and returns its exit code. */
export function reportFailure(name: string, err: unknown): number {
  const { line, exit } = describeFailure(err);
  console.error(`cairn${name ? ` ${name}` : ''}: ${line}`);
  if (process.env.CAIRN_DEBUG === '1' && err instanceof Error && err.stack) console.error(err.stack);
  return exit;
}
