/** A CAP argument: the text itself, or '-' to read it from stdin (keeps it out of `ps`). */
import { UsageError } from './command.ts';

/** CAP, or the cap on stdin for '-' (trimmed: `echo CAP |` adds a newline). */
export async function capArgument(arg: string): Promise<string> {
  if (arg !== '-') return arg;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new UsageError('the cap on stdin is too long');
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}
