/**
 * The CLI's aliases, as Tahoe keeps them (private/aliases): one `name: cap` line each, in a
 * file only its owner can read (mode 0600), beside the CLI's other private state. A grid path
 * is `ALIAS:path/inside`, or a bare directory cap followed by `/path`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './command.ts';
import { cairnHome } from './paths.ts';

export const aliasesFile = () => path.join(cairnHome(), 'private', 'aliases');

/** Alias names: what Tahoe accepts, minus anything that would confuse `ALIAS:path` parsing. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function checkAliasName(name: string): void {
  if (!NAME.test(name)) {
    throw new UsageError(
      `alias names are letters, digits, '_', '.' and '-' (at most 64, not starting with '.' or '-'), not '${name}'`,
    );
  }
}

/** Pure: the file's text to a map, in file order. Blank lines and `#` comments are skipped. */
export function parseAliases(text: string): Map<string, string> {
  const out = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new UsageError(`the aliases file has a malformed line ${i + 1} (expected 'name: cap')`);
    out.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  });
  return out;
}

export function formatAliases(aliases: ReadonlyMap<string, string>): string {
  return [...aliases].map(([name, cap]) => `${name}: ${cap}\n`).join('');
}

export async function readAliases(): Promise<Map<string, string>> {
  try {
    return parseAliases(await fs.readFile(aliasesFile(), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
}

/** Adds one alias, refusing to replace an existing one; the file is rewritten atomically, 0600. */
export async function addAlias(name: string, cap: string): Promise<void> {
  checkAliasName(name);
  const aliases = await readAliases();
  if (aliases.has(name)) throw new UsageError(`alias '${name}' already exists`);
  aliases.set(name, cap);
  const file = aliasesFile();
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, formatAliases(aliases), { mode: 0o600 });
  await fs.rename(tmp, file);
}

export interface GridPath {
  /** The directory cap the path starts from. */
  rootCap: string;
  /** Path components inside it (empty: the directory itself). */
  parts: string[];
  /** How the user wrote the start (alias name or "a cap"), for messages that must not echo caps. */
  label: string;
}

/**
 * `ALIAS:a/b/c` (or `ALIAS:`), or `URI:DIR2…:…/a/b`. Returns null when `arg` is a local path
 * (no `ALIAS:` prefix). An unknown alias is an error naming it.
 */
export async function parseGridPath(arg: string): Promise<GridPath | null> {
  if (arg.startsWith('URI:')) {
    const slash = arg.indexOf('/');
    const cap = slash < 0 ? arg : arg.slice(0, slash);
    const rest = slash < 0 ? '' : arg.slice(slash + 1);
    return { rootCap: cap, parts: splitPath(rest), label: 'a directory cap' };
  }
  const m = /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,63}):(.*)$/s.exec(arg);
  // One-letter "aliases" are Windows drive letters in Tahoe; here they are aliases too, but a
  // local path with a colon needs ./ in front (as in Tahoe).
  if (!m) return null;
  const aliases = await readAliases();
  const cap = aliases.get(m[1]);
  if (cap === undefined) {
    throw new UsageError(
      `no alias '${m[1]}' (cairn list-aliases shows them; cairn create-alias ${m[1]} makes one)`,
    );
  }
  return { rootCap: cap, parts: splitPath(m[2]), label: `${m[1]}:` };
}

/** Path components, without empty ones (a/b/, /a//b); '.' and '..' are refused. */
export function splitPath(p: string): string[] {
  const parts = p.split('/').filter((s) => s !== '');
  for (const s of parts) {
    if (s === '.' || s === '..') throw new UsageError(`grid paths cannot contain '${s}'`);
  }
  return parts;
}
