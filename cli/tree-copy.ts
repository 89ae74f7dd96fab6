/**
 * Copying trees between a local disk and the grid, with bounded parallelism: files are
 * uploaded (or downloaded) several at a time, and each directory's children are linked in
 * one change (a directory of 1,000 files is one publish, not 1,000).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DirectoryNode, FileNode, Grid } from '../core/client/index.ts';
import { BATCH_FILE_BYTES, batchesOf } from '../core/grid/batch-uploader.ts';
import type { Metadata } from '../core/dirnode/index.ts';
import type { ChkParams } from '../core/immutable/params.ts';
import { fileSource } from '../core/immutable/source-node.ts';
import { bytesSource } from '../core/immutable/source.ts';

/** Runs `fn` over `items` with at most `limit` at once; rejects with the first failure. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

/** What Tahoe's cp and backup record about a local file. */
export function fileMetadata(st: { size: number; mtimeMs: number; ctimeMs: number }): Metadata {
  return { size: st.size, mtime: st.mtimeMs / 1000, ctime: st.ctimeMs / 1000 };
}

export interface UploadTreeOptions {
  params: ChkParams;
  /** Files in flight at once (default 8). */
  parallel?: number;
  onFile?(localPath: string, bytes: number): void;
}

export interface LocalFile {
  path: string;
  size: number;
}

/**
 * Uploads local files (immutable, convergent): small ones read whole and sent in batches,
 * two batches at once (each server gets one request per batch, not two per file), the rest
 * one by one, `parallel` at once (default 8). `onUploaded` is told each file's cap as it is
 * stored; the first failure rejects.
 */
export async function uploadFiles(
  grid: Grid,
  files: readonly LocalFile[],
  params: ChkParams,
  opts: { parallel?: number; onUploaded(file: LocalFile, cap: string): void },
): Promise<void> {
  const batches = batchesOf(
    files.filter((f) => f.size <= BATCH_FILE_BYTES),
    (f) => f.size,
  );
  await Promise.all([
    forEachLimited(batches, 2, async (b) => {
      // Synchronous reads of these small files: a few µs each, where fs.promises costs ~40 µs
      // of CPU a call (open, stat, read, close) and the tree has thousands.
      const sources = b.map((f) => bytesSource(readFileSync(f.path)));
      const done = await grid.uploadMany(sources, { params });
      for (const [i, f] of b.entries()) opts.onUploaded(f, done[i].node.cap);
    }),
    forEachLimited(
      files.filter((f) => f.size > BATCH_FILE_BYTES),
      opts.parallel ?? 8,
      async (f) => opts.onUploaded(f, await uploadFile(grid, f.path, params)),
    ),
  ]);
}

/** Uploads one local file (immutable, convergent); returns its cap. */
export async function uploadFile(grid: Grid, file: string, params: ChkParams): Promise<string> {
  const source = await fileSource(file);
  try {
    return (await grid.upload(source, { params })).node.cap;
  } finally {
    await source.close();
  }
}

/**
 * Copies local directory `local` into grid directory `into` (its children linked there):
 * subdirectories become new mutable directories. Symlinks and special files are skipped.
 */
export async function uploadTree(
  grid: Grid,
  local: string,
  into: DirectoryNode,
  opts: UploadTreeOptions,
): Promise<void> {
  const entries = await fs.readdir(local, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile());
  const dirs = entries.filter((e) => e.isDirectory());
  const links: { name: string; cap: string; metadata?: Metadata }[] = [];
  const stats = new Map<string, { name: string; metadata: Metadata }>();
  const toUpload: LocalFile[] = [];
  for (const e of files) {
    const p = path.join(local, e.name); // sync: see uploadFiles
    const st = statSync(p);
    stats.set(p, { name: e.name, metadata: fileMetadata(st) });
    toUpload.push({ path: p, size: st.size });
  }
  await uploadFiles(grid, toUpload, opts.params, {
    parallel: opts.parallel,
    onUploaded: (f, cap) => {
      const { name, metadata } = stats.get(f.path) as { name: string; metadata: Metadata };
      links.push({ name, cap, metadata });
      opts.onFile?.(f.path, f.size);
    },
  });
  for (const e of dirs) {
    const sub = await grid.createDirectory();
    await uploadTree(grid, path.join(local, e.name), sub, opts);
    links.push({ name: e.name, cap: sub.cap });
  }
  if (links.length > 0) await into.setMany(links);
}

/**
 * Writes `chunk` whole at the file's position, synchronously: a write through fs.promises
 * costs a thread-pool round trip each (a 256 MiB download: ~0.1 s more CPU for 2,048 writes).
 */
export function writeAll(fd: number, chunk: Uint8Array): void {
  for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at, chunk.length - at);
}

/** Writes a grid file to `dest` (temp file, then rename: a reader never sees half a file). */
export async function downloadFile(node: FileNode, dest: string): Promise<number> {
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${randomBytes(4).toString('hex')}.part`);
  const handle = await fs.open(tmp, 'wx', 0o644);
  let bytes = 0;
  try {
    for await (const chunk of node.read()) {
      writeAll(handle.fd, chunk);
      bytes += chunk.length;
    }
    await handle.sync();
    await handle.close();
    await fs.rename(tmp, dest);
    return bytes;
  } catch (err) {
    await handle.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Copies grid directory `dir` into local folder `dest` (made if missing). */
export async function downloadTree(
  grid: Grid,
  dir: DirectoryNode,
  dest: string,
  opts: { parallel?: number; onFile?(localPath: string, bytes: number): void } = {},
): Promise<void> {
  await fs.mkdir(dest, { recursive: true });
  const children = [...(await dir.list()).values()];
  await forEachLimited(
    children.filter((c) => c.kind !== 'directory' && c.kind !== 'unknown'),
    opts.parallel ?? 8,
    async (c) => {
      const p = path.join(dest, safeLocalName(c.name));
      // Not inside `onFile?.(…)`: optional chaining would skip the download when there is no onFile.
      const bytes = await downloadFile(grid.open(c.cap), p);
      opts.onFile?.(p, bytes);
    },
  );
  for (const c of children.filter((c) => c.kind === 'directory')) {
    await downloadTree(grid, grid.openDirectory(c.cap), path.join(dest, safeLocalName(c.name)), opts);
  }
}

/** A grid name as a local file name: path separators and NUL cannot be; '.'/'..' neither. */
export function safeLocalName(name: string): string {
  const cleaned = name.replace(/[\\/\0]/g, '_');
  return cleaned === '.' || cleaned === '..' ? `_${cleaned}` : cleaned;
}
