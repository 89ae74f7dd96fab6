/**
 * `cairn backup LOCALDIR ALIAS:path`, as Tahoe's: the tree becomes immutable directories,
 * linked at `ALIAS:path/Archives/<UTC time>` and at `ALIAS:path/Latest`. A local backup
 * database remembers each file's cap by (path, size, mtime, ctime) and each directory's cap
 * by a hash of its entries, so an unchanged file or directory is never uploaded again.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type DirectoryNode, type Grid, NoSuchChildError } from '../../core/client/index.ts';
import type { Metadata } from '../../core/dirnode/index.ts';
import { DEFAULT_CHK_PARAMS } from '../../core/immutable/params.ts';
import { parse } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { openGrid } from '../grid-client.ts';
import { requireGridPath } from '../grid-paths.ts';
import { cairnHome } from '../paths.ts';
import { fileMetadata, type LocalFile, uploadFiles } from '../tree-copy.ts';

const usage = `usage: cairn backup [--exclude PATTERN]... [--verbose] [--grid URL] LOCALDIR ALIAS:path

Backs up LOCALDIR to the grid as Tahoe does: a new immutable snapshot at
ALIAS:path/Archives/<YYYY-MM-DD_HH:MM:SSZ>, and ALIAS:path/Latest pointing to it. Files that
have not changed since the last backup (same size, mtime and ctime, per the backup database in
the CLI's home) are not uploaded again, nor are unchanged directories.
  --exclude PATTERN   skip names matching PATTERN (* and ? wildcards; may be repeated)`;

interface FileRecord {
  size: number;
  mtime: number;
  ctime: number;
  cap: string;
}
interface BackupDb {
  version: 1;
  files: Record<string, FileRecord>;
  /** Hash of a directory's entries (names, caps, user metadata) → its immutable cap. */
  dirs: Record<string, string>;
}

const dbFile = () => path.join(cairnHome(), 'private', 'backupdb.json');

async function loadDb(): Promise<BackupDb> {
  try {
    const db = JSON.parse(await fs.readFile(dbFile(), 'utf8')) as BackupDb;
    if (db.version === 1 && db.files && db.dirs) return db;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      process.stderr.write('cairn backup: the backup database is unreadable; starting a new one\n');
    }
  }
  return { version: 1, files: {}, dirs: {} };
}

async function saveDb(db: BackupDb): Promise<void> {
  const file = dbFile();
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(db), { mode: 0o600 });
  await fs.rename(tmp, file);
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Tahoe's archive name: the UTC time of the backup. */
export function archiveName(now: Date): string {
  return `${now.toISOString().slice(0, 19).replace('T', '_')}Z`;
}

interface Counts {
  filesUploaded: number;
  filesReused: number;
  dirsCreated: number;
  dirsReused: number;
  bytesUploaded: number;
}

export const backupCommand: Command = {
  name: 'backup',
  summary: 'back up a local folder as a new immutable snapshot (unchanged files are reused)',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      grid: { type: 'string' },
      exclude: { type: 'string', multiple: true },
      verbose: { type: 'boolean', short: 'v' },
    });
    if (positionals.length !== 2) throw new UsageError('expected LOCALDIR ALIAS:path');
    const local = path.resolve(positionals[0]);
    const st = await fs.stat(local).catch(() => null);
    if (!st?.isDirectory()) throw new UsageError(`${positionals[0]} is not a folder`);
    const target = await requireGridPath(positionals[1]);
    const excludes = (values.exclude ?? []).map(globToRegExp);
    const db = await loadDb();
    const counts: Counts = {
      filesUploaded: 0,
      filesReused: 0,
      dirsCreated: 0,
      dirsReused: 0,
      bytesUploaded: 0,
    };
    const say = (line: string) => {
      if (values.verbose) process.stderr.write(`${line}\n`);
    };
    const grid = await openGrid(values.grid, (l) => process.stderr.write(`cairn backup: ${l}\n`));
    try {
      // The target's directories are looked up while the local tree is walked: most of a
      // backup of an unchanged tree is those two waits. Nothing is stored before the target
      // is known to be a usable directory (the walk waits for it before any upload).
      const dirs = (async () => {
        const base = await ensureDirectory(grid, target);
        return { base, archives: await childDirectory(grid, base, 'Archives') };
      })();
      const walk: Walk = { grid, db, excludes, counts, say, targetReady: dirs };
      const [{ base, archives }, root] = await Promise.all([dirs, backupDir(walk, local)]);
      // Only uploads and new directories add records: an unchanged tree leaves the file as it was.
      if (counts.filesUploaded + counts.dirsCreated > 0) await saveDb(db);
      // Two mutable directories, so the two links go out together; each only points at the
      // snapshot already stored, and a backup that fails in either is whole when run again.
      // A name taken (two backups in one second) gets -2, -3… in the same change.
      const [name] = await Promise.all([
        archives.setUnique(archiveName(new Date()), root),
        base.set('Latest', root),
      ]);
      process.stdout.write(
        `${counts.filesUploaded} files uploaded (${counts.filesReused} reused), ` +
          `${counts.dirsCreated} directories created (${counts.dirsReused} reused); archive ${name}\n`,
      );
      return 0;
    } finally {
      grid.close();
    }
  },
};

/** The directory at `gp`, made (with its parents' help) if it does not exist. */
async function ensureDirectory(
  grid: Grid,
  gp: Awaited<ReturnType<typeof requireGridPath>>,
): Promise<DirectoryNode> {
  let dir = grid.openDirectory(gp.rootCap);
  for (const part of gp.parts) dir = await childDirectory(grid, dir, part);
  return dir;
}

async function childDirectory(grid: Grid, dir: DirectoryNode, name: string): Promise<DirectoryNode> {
  try {
    const e = await dir.get(name);
    if (e.kind !== 'directory') throw new UsageError(`'${name}' exists and is not a directory`);
    return grid.openDirectory(e.cap);
  } catch (err) {
    if (!(err instanceof NoSuchChildError)) throw err;
    return dir.mkdir(name);
  }
}

/** What a backup's walk of the local tree works with. */
interface Walk {
  grid: Grid;
  db: BackupDb;
  excludes: RegExp[];
  counts: Counts;
  say: (line: string) => void;
  /** Settles once the grid target is found (or made); the walk stores nothing before. */
  targetReady: Promise<unknown>;
}

/** Backs up one local folder (children first); returns its immutable directory's cap. */
async function backupDir(walk: Walk, dirPath: string): Promise<string> {
  const { grid, db, excludes, counts, say } = walk;
  const entries = (await fs.readdir(dirPath, { withFileTypes: true }))
    .filter((e) => !excludes.some((re) => re.test(e.name)))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const children: { name: string; cap: string; metadata: Metadata }[] = [];
  // Files unchanged since the last backup are reused; the others are uploaded together.
  const changed = new Map<string, { name: string; metadata: Metadata }>();
  const toUpload: LocalFile[] = [];
  // Synchronous stats: a few µs each, where fs.promises costs ~40 µs of CPU a call (a backup
  // of an unchanged tree is mostly these).
  for (const e of entries.filter((e) => e.isFile())) {
    const p = path.join(dirPath, e.name);
    const st = statSync(p);
    const metadata = fileMetadata(st);
    const rec = db.files[p];
    if (rec && rec.size === st.size && rec.mtime === metadata.mtime && rec.ctime === metadata.ctime) {
      counts.filesReused++;
      say(`reusing ${p}`);
      children.push({ name: e.name, cap: rec.cap, metadata });
    } else {
      changed.set(p, { name: e.name, metadata });
      toUpload.push({ path: p, size: st.size });
    }
  }
  if (toUpload.length > 0) await walk.targetReady;
  await uploadFiles(
    grid,
    toUpload,
    { ...DEFAULT_CHK_PARAMS },
    {
      onUploaded: (f, cap) => {
        const { name, metadata } = changed.get(f.path) as { name: string; metadata: Metadata };
        db.files[f.path] = {
          size: f.size,
          mtime: metadata.mtime as number,
          ctime: metadata.ctime as number,
          cap,
        };
        counts.filesUploaded++;
        counts.bytesUploaded += f.size;
        say(`uploaded ${f.path}`);
        children.push({ name, cap, metadata });
      },
    },
  );
  for (const e of entries.filter((e) => e.isDirectory())) {
    const cap = await backupDir(walk, path.join(dirPath, e.name));
    children.push({ name: e.name, cap, metadata: {} });
  }
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // The directory's identity: its entries, without the link times a new snapshot would give it.
  const hash = createHash('sha256')
    .update(JSON.stringify(children.map((c) => [c.name, c.cap, c.metadata])))
    .digest('hex');
  const known = db.dirs[hash];
  if (known) {
    counts.dirsReused++;
    return known;
  }
  await walk.targetReady;
  const dir = await grid.createImmutableDirectory(children);
  db.dirs[hash] = dir.cap;
  counts.dirsCreated++;
  return dir.cap;
}
