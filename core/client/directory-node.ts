/**
 * A directory (Tahoe's DIR2) as a node: a file holding its packed children. Mutable
 * directories change through their backing file's modify(), so two clients changing
 * different children at once both survive; immutable ones (DIR2-CHK, DIR2-LIT) are made
 * once from a list of immutable children. Through a read-only cap every child comes back
 * read-only (transitively: their write caps are encrypted under the directory's write key).
 */
import {
  type DirectoryCap,
  formatCapability,
  isMutableDirectory,
  parseAllegedCap,
  readOnlyOf,
  verifierOf,
} from '../caps/index.ts';
import type { CheckResult } from '../check/results.ts';
import { CairnError, InputError } from '../errors.ts';
import {
  type DirChild,
  directoryKeysOf,
  type Metadata,
  packDirectory,
  unpackDirectory,
  updateMetadata,
} from '../dirnode/index.ts';
import type { WriteKey } from '../mutable/keys.ts';
import type { NodeKind } from './cap-info.ts';
import { nodeKindOf } from './cap-info.ts';
import { CapAuthorityError } from './errors.ts';
import type { CheckOptions, FileNode, MutableFileNode, ReadOptions, WriteOptions } from './node.ts';
import { readAll } from './node.ts';

/** A child named in a directory, with what its caps say about it. */
export interface DirEntry {
  readonly name: string;
  /** 'directory', 'immutable', 'mutable', 'literal', or 'unknown' (a cap kind Cairn does not know). */
  readonly kind: NodeKind | 'unknown';
  /** The cap to open it by: the write cap when this directory gives it, else the read cap. */
  readonly cap: string;
  readonly writeCap: string | null;
  readonly readCap: string | null;
  readonly metadata: Metadata;
  /** Bytes, when the child's cap or metadata says. */
  readonly size: number | null;
  /** A mutable file or directory (its contents can change, by whoever holds its write cap). */
  readonly mutable: boolean;
}

export class NoSuchChildError extends CairnError {
  constructor(name: string, where = 'the directory') {
    super('NO_SUCH_CHILD', `${where} has no child named '${name}'`);
  }
}

export class ChildExistsError extends CairnError {
  constructor(name: string) {
    super('CHILD_EXISTS', `the directory already has a child named '${name}'`);
  }
}

export class NotAFileError extends CairnError {
  constructor() {
    super('IS_A_DIRECTORY', 'that is a directory, not a file: list it, or copy it with -r');
  }
}

export class NotADirectoryError extends CairnError {
  constructor(path: string) {
    super('NOT_A_DIRECTORY', `'${path}' is not a directory`);
  }
}

/** What a directory node needs from the grid: opening child caps and making new directories. */
export interface DirectoryContext {
  open(cap: string): FileNode;
  createDirectory(opts?: { format?: 'sdmf' | 'mdmf' }): Promise<DirectoryNode>;
  now(): number;
}

/** A child name: NFC, not empty, no '/' (the path separator), at most 255 bytes of UTF-8. */
export function checkChildName(name: string): string {
  const n = name.normalize('NFC');
  if (n === '' || n.includes('/'))
    throw new InputError(`'${name}' is not a usable name (empty, or holds '/')`, 'BAD_NAME');
  if (new TextEncoder().encode(n).length > 255)
    throw new InputError('a name is at most 255 bytes of UTF-8', 'BAD_NAME');
  return n;
}

export class DirectoryNode implements FileNode {
  readonly kind = 'directory';
  readonly cap: string;
  readonly writeCap: string | null;
  readonly readCap: string | null;
  readonly verifyCap: string | null;
  readonly readable: boolean;
  readonly writable: boolean;
  /** Mutable directories can change (whatever this cap's authority); DIR2-CHK/LIT cannot. */
  readonly mutable: boolean;
  readonly #parsed: DirectoryCap;
  readonly #writeKey: WriteKey | null;

  constructor(
    parsed: DirectoryCap,
    /** The backing file's node (opened from the backing file cap). */
    readonly file: FileNode,
    private readonly ctx: DirectoryContext,
  ) {
    this.#parsed = parsed;
    this.cap = formatCapability(parsed);
    const ro = readOnlyOf(parsed);
    const v = verifierOf(parsed);
    this.readCap = ro ? formatCapability(ro) : null;
    this.verifyCap = v ? formatCapability(v) : null;
    this.readable = ro !== null;
    this.writable = parsed.file.kind === 'ssk-write';
    this.writeCap = this.writable ? this.cap : null;
    this.mutable = isMutableDirectory(parsed);
    this.#writeKey = parsed.file.kind === 'ssk-write' ? parsed.file.writeKey : null;
  }

  /** The children, by name (code-point order). */
  async list(opts: ReadOptions = {}): Promise<Map<string, DirEntry>> {
    const children = await this.#children(opts);
    return new Map([...children].map(([name, c]) => [name, entryOf(c)]));
  }

  async #children(opts: ReadOptions = {}): Promise<Map<string, DirChild>> {
    if (!this.readable)
      throw new CapAuthorityError('that is a verify cap: it can check a directory but not list it');
    const bytes = await readAll(this.file, opts);
    return unpackDirectory(bytes, directoryKeysOf(this.#parsed)).children;
  }

  /** One child, or NoSuchChildError. */
  async get(name: string): Promise<DirEntry> {
    const n = checkChildName(name);
    const c = (await this.#children()).get(n);
    if (!c) throw new NoSuchChildError(n);
    return entryOf(c);
  }

  /** The node of a child. */
  async open(name: string): Promise<FileNode> {
    return this.ctx.open((await this.get(name)).cap);
  }

  /** Follows `a/b/c` (components already split) from here; [] is this directory itself. */
  async resolve(parts: readonly string[]): Promise<{ node: FileNode; entry: DirEntry | null }> {
    let node: FileNode = this;
    let entry: DirEntry | null = null;
    const walked: string[] = [];
    for (const part of parts) {
      if (!(node instanceof DirectoryNode)) throw new NotADirectoryError(walked.join('/'));
      const dir: DirectoryNode = node;
      entry = await dir.get(part).catch((err) => {
        if (err instanceof NoSuchChildError)
          throw new NoSuchChildError(part, walked.length ? `'${walked.join('/')}'` : 'the directory');
        throw err;
      });
      walked.push(part);
      node = this.ctx.open(entry.cap);
    }
    return { node, entry };
  }

  #mutableFile(): MutableFileNode {
    if (!this.writable || !this.#writeKey) {
      throw new CapAuthorityError(
        this.mutable
          ? 'that is a read-only directory cap: it can list the directory but not change it'
          : 'that directory is immutable: it can never change',
      );
    }
    return this.file as MutableFileNode;
  }

  /**
   * Changes the children with `change` (given a copy; it returns the new set, or null for no
   * change), through the backing file's modify(): on a collision with another writer it runs
   * again on their version, so it must be idempotent. `attempt` counts runs (1 first).
   */
  async #modify(
    change: (children: Map<string, DirChild>, attempt: number) => Map<string, DirChild> | null,
    opts: WriteOptions = {},
  ): Promise<void> {
    const file = this.#mutableFile();
    const keys = directoryKeysOf(this.#parsed);
    let attempt = 0;
    await file.modify((bytes) => {
      attempt++;
      const current = unpackDirectory(bytes, keys).children;
      const next = change(new Map(current), attempt);
      return next === null ? null : packDirectory(next.values(), this.#writeKey);
    }, opts);
  }

  /**
   * Links `cap` as child `name` (replacing one there unless `overwrite` is false). Tahoe's
   * metadata rules: link times kept and updated; `metadata` replaces user metadata.
   */
  async set(
    name: string,
    cap: string,
    opts: WriteOptions & { metadata?: Metadata; overwrite?: boolean } = {},
  ): Promise<DirEntry> {
    const n = checkChildName(name);
    const child = childFromCap(cap, this.mutable);
    let result: DirEntry | null = null;
    await this.#modify((children, attempt) => {
      const old = children.get(n);
      if (old && opts.overwrite === false) {
        // On a second run, the child we linked first is ours: done, not a conflict.
        if (attempt > 1 && sameCaps(old, child)) return null;
        throw new ChildExistsError(n);
      }
      const metadata = updateMetadata(old?.metadata ?? null, this.ctx.now(), opts.metadata ?? null);
      const next: DirChild = { name: n, ...child, metadata };
      children.set(n, next);
      result = entryOf(next);
      return children;
    }, opts);
    return result ?? this.get(n);
  }

  /**
   * Links `cap` under `base`, or `base-2`, `base-3`… when that name is taken (as `cairn backup`
   * names its archives), in one change whatever the names; returns the name used.
   */
  async setUnique(
    base: string,
    cap: string,
    opts: WriteOptions & { metadata?: Metadata } = {},
  ): Promise<string> {
    checkChildName(base);
    const child = childFromCap(cap, this.mutable);
    const linked = { name: '' };
    await this.#modify((children, attempt) => {
      for (let i = 1; ; i++) {
        const n = checkChildName(i === 1 ? base : `${base}-${i}`);
        const old = children.get(n);
        // On a second run, the child we linked first is ours: done.
        if (old && attempt > 1 && n === linked.name && sameCaps(old, child)) return null;
        if (old) continue;
        const metadata = updateMetadata(null, this.ctx.now(), opts.metadata ?? null);
        children.set(n, { name: n, ...child, metadata });
        linked.name = n;
        return children;
      }
    }, opts);
    return linked.name;
  }

  /** Links several children in one change (a batch from cp -r or a folder upload). */
  async setMany(
    entries: readonly { name: string; cap: string; metadata?: Metadata }[],
    opts: WriteOptions & { overwrite?: boolean } = {},
  ): Promise<void> {
    const prepared = entries.map((e) => ({
      name: checkChildName(e.name),
      child: childFromCap(e.cap, this.mutable),
      metadata: e.metadata,
    }));
    await this.#modify((children, attempt) => {
      for (const e of prepared) {
        const old = children.get(e.name);
        if (old && opts.overwrite === false && !(attempt > 1 && sameCaps(old, e.child)))
          throw new ChildExistsError(e.name);
        children.set(e.name, {
          name: e.name,
          ...e.child,
          metadata: updateMetadata(old?.metadata ?? null, this.ctx.now(), e.metadata ?? null),
        });
      }
      return children;
    }, opts);
  }

  /** Unlinks child `name` (the child itself stays on the grid until its leases lapse). */
  async delete(name: string, opts: WriteOptions = {}): Promise<void> {
    const n = checkChildName(name);
    await this.#modify((children, attempt) => {
      if (!children.has(n)) {
        // Gone on a later run: our first run's delete landed after all.
        if (attempt > 1) return null;
        throw new NoSuchChildError(n);
      }
      children.delete(n);
      return children;
    }, opts);
  }

  /** Renames a child within this directory (one change: never a moment with both or neither). */
  async rename(from: string, to: string, opts: WriteOptions & { overwrite?: boolean } = {}): Promise<void> {
    const a = checkChildName(from);
    const b = checkChildName(to);
    if (a === b) return;
    await this.#modify((children, attempt) => {
      const c = children.get(a);
      if (!c) {
        if (attempt > 1 && children.has(b)) return null;
        throw new NoSuchChildError(a);
      }
      if (children.has(b) && opts.overwrite === false) throw new ChildExistsError(b);
      children.delete(a);
      children.set(b, {
        ...c,
        name: b,
        entry: undefined,
        metadata: updateMetadata(c.metadata, this.ctx.now()),
      });
      return children;
    }, opts);
  }

  /**
   * Moves child `name` into `target` as `newName`: linked there first, then unlinked here (as
   * Tahoe's mv), so a failure between the two leaves it in both places, never in neither.
   */
  async moveTo(
    name: string,
    target: DirectoryNode,
    newName = name,
    opts: WriteOptions & { overwrite?: boolean } = {},
  ): Promise<void> {
    if (target.cap === this.cap || (target.readCap !== null && target.readCap === this.readCap)) {
      return this.rename(name, newName, opts);
    }
    const entry = await this.get(name);
    await target.set(newName, entry.writeCap ?? entry.cap, { ...opts, metadata: stripTahoe(entry.metadata) });
    await this.delete(name, opts);
  }

  /** Makes an empty mutable directory and links it as `name`; returns it. */
  async mkdir(name: string, opts: WriteOptions & { format?: 'sdmf' | 'mdmf' } = {}): Promise<DirectoryNode> {
    const n = checkChildName(name);
    this.#mutableFile();
    const dir = await this.ctx.createDirectory({ format: opts.format });
    await this.set(n, dir.cap, { ...opts, overwrite: false });
    return dir;
  }

  // biome-ignore lint/correctness/useYield: a directory has no contents to read as a file.
  async *read(): AsyncGenerator<Uint8Array> {
    throw new NotAFileError();
  }

  /** Size of the backing file (the packed children). */
  size(): Promise<number> {
    return this.file.size();
  }

  check(opts: CheckOptions = {}): Promise<CheckResult> {
    return this.file.check(opts);
  }
}

/** The caps of a child, from any cap text (claims `ro.`/`imm.` honoured, as Tahoe's set_uri). */
function childFromCap(text: string, mutableDir: boolean): Pick<DirChild, 'writeCap' | 'readCap'> {
  const { cap } = parseAllegedCap(text.trim(), mutableDir ? null : 'immutable');
  const ro = readOnlyOf(cap);
  const writable = cap.kind === 'ssk-write' || (cap.kind === 'dir' && cap.file.kind === 'ssk-write');
  if (
    !mutableDir &&
    (writable || nodeKindOf(cap) === 'mutable' || (cap.kind === 'dir' && isMutableDirectory(cap)))
  ) {
    throw new InputError('an immutable directory can hold only immutable children', 'BAD_CHILD');
  }
  if (!ro && !writable) {
    // A verify cap: Tahoe would keep it as an unknown child; Cairn refuses it to avoid dead links.
    throw new InputError('a verify cap cannot be linked into a directory: it cannot be read', 'BAD_CHILD');
  }
  return { writeCap: writable ? formatCapability(cap) : null, readCap: ro ? formatCapability(ro) : null };
}

function sameCaps(
  a: Pick<DirChild, 'writeCap' | 'readCap'>,
  b: Pick<DirChild, 'writeCap' | 'readCap'>,
): boolean {
  return a.writeCap === b.writeCap && a.readCap === b.readCap;
}

function stripTahoe(m: Metadata): Metadata {
  return Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'tahoe')) as Metadata;
}

function entryOf(c: DirChild): DirEntry {
  const cap = c.writeCap ?? c.readCap ?? '';
  let kind: DirEntry['kind'] = 'unknown';
  let size: number | null = typeof c.metadata.size === 'number' ? c.metadata.size : null;
  let mutable = false;
  try {
    const parsed = parseAllegedCap(cap).cap;
    kind = nodeKindOf(parsed);
    mutable = kind === 'mutable' || (parsed.kind === 'dir' && isMutableDirectory(parsed));
    if (parsed.kind === 'chk' || parsed.kind === 'chk-verifier') size = parsed.size;
    else if (parsed.kind === 'lit') size = parsed.data.length;
  } catch {
    // A cap kind Cairn does not know: listed, not opened.
  }
  return {
    name: c.name,
    kind,
    cap,
    writeCap: c.writeCap,
    readCap: c.readCap,
    metadata: c.metadata,
    size,
    mutable,
  };
}
