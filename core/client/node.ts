/**
 * What `Grid.open(cap)` returns: one shape for every kind of file, so callers (CLI
 * commands, the tab's grid worker) never switch on the cap's kind. What a node can do
 * follows from the cap's authority: a verify cap reads nothing, a read cap writes nothing.
 */
import type { ShareCorruptError, ShareUnavailableError } from '../immutable/errors.ts';
import type { CheckResult } from '../check/results.ts';
import type { PlaintextSource } from '../immutable/source.ts';

export interface ReadOptions {
  /** First byte wanted (default 0). */
  offset?: number;
  /** Bytes wanted (default: to the end). */
  length?: number;
  signal?: AbortSignal;
  /** Told about every share given up on (bad bytes or unreachable) as reading goes on. */
  onShareError?(err: ShareCorruptError | ShareUnavailableError | Error): void;
}

export interface FileNode {
  /** 'literal' (data in the cap), 'immutable' (CHK), 'mutable' (SDMF/MDMF) or 'directory'. */
  readonly kind: 'literal' | 'immutable' | 'mutable' | 'directory';
  /** The cap this node was opened with, in its canonical form. */
  readonly cap: string;
  /** The strongest cap that writes; null unless the node is writable. */
  readonly writeCap: string | null;
  /** The read-only cap; null for a verify cap. */
  readonly readCap: string | null;
  /** The verify cap; null for a literal file (nothing on the grid to check). */
  readonly verifyCap: string | null;
  readonly readable: boolean;
  readonly writable: boolean;
  /** The size in bytes (a mutable file's current version may need a look at the grid). */
  size(): Promise<number>;
  /**
   * Verified plaintext of the range, a piece at a time. Rejects on a verify cap. Each piece's
   * buffer is the caller's: no two pieces share one and nothing here touches a piece once
   * yielded (the web app moves them to another thread).
   */
  read(opts?: ReadOptions): AsyncGenerator<Uint8Array>;
  /**
   * Where the shares are and whether they suffice (no download); `verify` reads and checks
   * every byte of every share; `addLease` renews this client's lease on every share found.
   */
  check(opts?: CheckOptions): Promise<CheckResult>;
}

export interface CheckOptions {
  verify?: boolean;
  addLease?: boolean;
  /** Rebuild missing or corrupt shares if the file is not healthy (mutable files need the write cap). */
  repair?: boolean;
  onProgress?(done: number, total: number): void;
}

export interface WriteOptions {
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

/** A mutable file opened through its write cap. */
export interface MutableFileNode extends FileNode {
  readonly kind: 'mutable';
  /** Replaces the whole contents (a new version). */
  overwrite(source: PlaintextSource | Uint8Array, opts?: WriteOptions): Promise<void>;
  /** Writes `bytes` at `offset` (growing the file if it runs past the end). */
  update(offset: number, bytes: Uint8Array, opts?: WriteOptions): Promise<void>;
  /**
   * Reads the newest version, applies `fn`, publishes the result; on an uncoordinated
   * write by someone else, reads again and re-applies `fn`. As in Tahoe, `fn` may run more
   * than once, and may then see contents that already hold its change (a colliding write
   * can land in part and still be the version readers get): it must be idempotent, and
   * return null when there is nothing (left) to change.
   */
  modify(
    fn: (current: Uint8Array) => Uint8Array | null | Promise<Uint8Array | null>,
    opts?: WriteOptions,
  ): Promise<void>;
}

/** Collects a node's whole contents (small files; the editor, directories). */
export async function readAll(node: FileNode, opts: ReadOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of node.read(opts)) {
    parts.push(chunk);
    size += chunk.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
