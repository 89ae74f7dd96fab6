/**
 * The client: one grid's connections plus the node maker. `open(cap)` parses any cap once
 * and returns the node for it; `upload` stores a new immutable file. This is the only place
 * that decides what a cap's kind means; CLI commands and the tab's grid worker are thin
 * adapters over it.
 */
import {
  type ChkCap,
  type DirectoryCap,
  formatCapability,
  type LitCap,
  type MutableFormat,
  type MutableWriteCap,
  mutableWriteCapOf,
  parseAllegedCap,
  parseCapability,
  readOnlyOf,
} from '../caps/index.ts';
import { type Metadata, packDirectory, updateMetadata } from '../dirnode/index.ts';
import { InputError } from '../errors.ts';
import { bytesSource } from '../immutable/source.ts';
import {
  checkChildName,
  type DirectoryContext,
  DirectoryNode,
  NotADirectoryError,
} from './directory-node.ts';
import { formatCap } from '../caps/immutable.ts';
import { uploadBatch } from '../grid/batch-uploader.ts';
import { uploadImmutable } from '../grid/uploader.ts';
import type { EncodeTools } from '../immutable/encoder.ts';
import { type ChkParams, checkEncoding, checkParams, DEFAULT_CHK_PARAMS } from '../immutable/params.ts';
import { planChk } from '../immutable/plan.ts';
import type { PlaintextSource } from '../immutable/source.ts';
import type { StorageServerApi } from '../protocol/storage-api.ts';
import type { AesKey, ServerId, StorageIndex } from '../types.ts';
import { CapAuthorityError } from './errors.ts';
import { GridConnections, type GridOptions, type ServerStatus } from './connections.ts';
import { generateRsaKeyPair } from '../primitives/rsa.ts';
import type { MutableContext } from './context.ts';
import { ImmutableFileNode, ImmutableVerifierNode, LiteralFileNode } from './immutable-nodes.ts';
import { MutableNode } from './mutable-node.ts';
import { ServerMap } from '../mutable/servermap.ts';
import type { FileNode, MutableFileNode, WriteOptions } from './node.ts';

/** The client's own secrets (CLI: files in its home; tab: IndexedDB). */
export interface ClientSecrets {
  /** 32 bytes every lease this client holds derives from (Tahoe's private/secret). */
  lease: Uint8Array;
  /** Convergence secret: same file + same secret → same cap. */
  convergence: Uint8Array;
}

export interface GridClientOptions extends GridOptions {
  /** Codec and crypto (the tab adds its segment-worker runner). */
  tools(): Promise<EncodeTools>;
  /** Decoding tools when they differ from tools() (the tab decodes on its grid worker). */
  decodeTools?(): Promise<EncodeTools>;
  secrets(): Promise<ClientSecrets>;
  /** Encoding of immutable directories (default Cairn's 3-of-10, happy 7). */
  immutableDirectoryParams?: Partial<ChkParams>;
  /** k and N of new mutable files (default 3 and 10). */
  mutableDefaults?: { k: number; n: number };
  /** Random bytes (default crypto.getRandomValues). */
  random?(length: number): Uint8Array;
  /**
   * Largest request an immutable upload joins a share's writes into (default 1 MiB, the
   * most a frame takes). Each server has one filling and one in its socket: a tab keeps
   * them smaller, for its memory.
   */
  maxWriteBatchBytes?: number;
}

export interface CreateMutableOptions extends WriteOptions {
  /** 'mdmf' (default: segments, range reads and in-place updates) or 'sdmf'. */
  format?: MutableFormat;
  k?: number;
  n?: number;
}

export interface UploadFileOptions {
  params: ChkParams;
  /** Convergent key (default) or a random one. */
  convergent?: boolean;
  /** This key (a random-key upload being resumed: the key it started with). */
  key?: AesKey;
  /** Told the key and storage index before any server is asked (awaited): keep them to resume. */
  onKey?(key: AesKey, si: StorageIndex): void | Promise<void>;
  /** Tries again after losing servers part way (default 4), resuming what they hold. */
  retries?: number;
  onRetry?(r: { attempt: number; attempts: number; delayMs: number; reason: Error }): void;
  onProgress?(p: { encoded: number; acked: number; total: number }): void;
  onServerLost?(serverId: ServerId, reason: unknown): void;
  signal?: AbortSignal;
}

export interface UploadFileResult {
  node: FileNode;
  /** Servers-of-happiness reached (0 for a literal file). */
  happiness: number;
  /** Share bytes sent, and share bytes the servers already held (a resumed upload). */
  sentBytes: number;
  skippedBytes: number;
}

export class Grid {
  readonly connections: GridConnections;
  readonly #opts: GridClientOptions;
  readonly #ctx: MutableContext;
  readonly #dirCtx: DirectoryContext;

  constructor(opts: GridClientOptions) {
    this.#opts = opts;
    this.connections = new GridConnections(opts);
    this.#ctx = {
      servers: () => this.connections.requireServers(),
      tools: () => (opts.decodeTools ?? opts.tools)(),
      secrets: () => opts.secrets(),
      random: opts.random ?? ((n) => globalThis.crypto.getRandomValues(new Uint8Array(n))),
      defaults: opts.mutableDefaults ?? { k: 3, n: 10 },
    };
    this.#dirCtx = {
      open: (cap) => this.open(cap),
      createDirectory: (o) => this.createDirectory(o),
      now: () => Date.now() / 1000,
    };
  }

  get url(): string | null {
    return this.connections.url;
  }

  /** The node for any cap Cairn knows; throws CapError for text that is not one. */
  open(capText: string): FileNode {
    const cap = parseCapability(capText.trim());
    switch (cap.kind) {
      case 'lit':
        return new LiteralFileNode(cap);
      case 'chk':
        return new ImmutableFileNode(cap, this.#ctx);
      case 'chk-verifier':
        return new ImmutableVerifierNode(cap, this.#ctx);
      case 'ssk-write':
      case 'ssk-read':
      case 'ssk-verifier':
        return new MutableNode(cap, this.#ctx);
      case 'dir':
        return new DirectoryNode(cap, this.#openFile(cap.file), this.#dirCtx);
    }
  }

  /** The node of a directory's backing file. */
  #openFile(cap: DirectoryCap['file']): FileNode {
    switch (cap.kind) {
      case 'lit':
        return new LiteralFileNode(cap);
      case 'chk':
        return new ImmutableFileNode(cap, this.#ctx);
      case 'chk-verifier':
        return new ImmutableVerifierNode(cap, this.#ctx);
      default:
        return new MutableNode(cap, this.#ctx);
    }
  }

  /** Opens a cap that must name a directory. */
  openDirectory(capText: string): DirectoryNode {
    const node = this.open(capText);
    if (!(node instanceof DirectoryNode)) throw new NotADirectoryError('that cap');
    return node;
  }

  /** A new, empty mutable directory (Tahoe's default format, SDMF, unless MDMF is asked for). */
  async createDirectory(opts: { format?: MutableFormat } = {}): Promise<DirectoryNode> {
    const file = await this.createMutable(new Uint8Array(0), { format: opts.format ?? 'sdmf' });
    return this.openDirectory(
      formatCapability({ kind: 'dir', file: parseCapability(file.cap) as MutableWriteCap }),
    );
  }

  /**
   * An immutable directory (DIR2-CHK, or DIR2-LIT when tiny) holding `children`, which must all
   * be immutable; stored convergently, as Tahoe does.
   */
  async createImmutableDirectory(
    children: readonly { name: string; cap: string; metadata?: Metadata }[],
  ): Promise<DirectoryNode> {
    const now = Date.now() / 1000;
    const packed = packDirectory(
      children.map((c) => {
        const { cap } = parseAllegedCap(c.cap.trim(), 'immutable');
        const ro = readOnlyOf(cap);
        if (!ro) throw new InputError('an immutable directory cannot hold a verify cap', 'BAD_CHILD');
        return {
          name: checkChildName(c.name),
          writeCap: null,
          readCap: formatCapability(ro),
          metadata: updateMetadata(null, now, c.metadata ?? null),
        };
      }),
      null,
    );
    const { node } = await this.upload(bytesSource(packed), {
      params: { ...DEFAULT_CHK_PARAMS, ...this.#opts.immutableDirectoryParams },
    });
    const file = parseCapability(node.cap) as ChkCap | LitCap;
    return this.openDirectory(formatCapability({ kind: 'dir', file }));
  }

  /** Opens a cap that must name a mutable file this client may write. */
  openMutable(capText: string): MutableFileNode {
    const node = this.open(capText);
    if (!(node instanceof MutableNode)) {
      throw new CapAuthorityError('that cap names an immutable file: its contents can never change');
    }
    if (!node.writable) {
      throw new CapAuthorityError(
        node.readable
          ? 'that is a read-only cap: it can read the file but not change it'
          : 'that is a verify cap: it can check a file but not change it',
      );
    }
    return node;
  }

  /**
   * A new mutable file holding `data`: a fresh RSA key (slow: run this off a UI thread), its
   * first version published with sequence number 1.
   */
  async createMutable(data: Uint8Array, opts: CreateMutableOptions = {}): Promise<MutableFileNode> {
    const format = opts.format ?? 'mdmf';
    const keys = await generateRsaKeyPair();
    const cap = mutableWriteCapOf(format, keys.privateKey, keys.publicKey);
    const node = new MutableNode(cap, this.#ctx, keys);
    // A brand-new slot (its storage index comes from a key made just now) holds nothing, so
    // as in Tahoe its first version is published over an empty map, without a round of reads
    // first: each share tests for "no share yet", and one whose server fails is placed again.
    await node.publish(data, new ServerMap(), opts);
    return node;
  }

  /** Stores `source` as an immutable file; tiny files become literal caps and touch no server. */
  async upload(source: PlaintextSource, opts: UploadFileOptions): Promise<UploadFileResult> {
    checkParams(opts.params);
    checkEncoding(opts.params);
    const needsServers = planChk(source.size, opts.params).kind === 'chk';
    const [servers, tools, secrets] = await Promise.all([
      needsServers ? this.connections.requireServers() : [],
      this.#opts.tools(),
      this.#opts.secrets(),
    ]);
    let first: readonly StorageServerApi[] | null = servers;
    const result = await uploadImmutable(source, {
      // The first try uses these; a retry reconnects (a restarted server comes back).
      servers: async () => {
        const now = first ?? (await this.connections.connected());
        first = null;
        return now;
      },
      params: opts.params,
      clientSecret: secrets.lease,
      convergence: opts.convergent === false ? null : secrets.convergence,
      key: opts.key,
      onKey: opts.onKey,
      retries: opts.retries ?? 4,
      onRetry: opts.onRetry,
      tools,
      maxCoalesceBytes: this.#opts.maxWriteBatchBytes,
      onProgress: opts.onProgress,
      onServerLost: opts.onServerLost,
      signal: opts.signal,
    });
    return {
      node: this.open(formatCap(result.cap)),
      happiness: result.happiness,
      sentBytes: result.sentBytes,
      skippedBytes: result.skippedBytes,
    };
  }

  /**
   * Stores several files, small ones together: every server is sent one request for the
   * batch (batch-uploader.ts) instead of two per file. Files too big for a batch, and any the
   * batch could not place happily, are uploaded as `upload` does. Results in the order given.
   * `key`/`onKey` do not apply (each file has its own).
   */
  async uploadMany(
    sources: readonly PlaintextSource[],
    opts: Omit<UploadFileOptions, 'key' | 'onKey' | 'onProgress'>,
  ): Promise<UploadFileResult[]> {
    checkParams(opts.params);
    checkEncoding(opts.params);
    const needsServers = sources.some((s) => planChk(s.size, opts.params).kind === 'chk');
    const [servers, tools, secrets] = await Promise.all([
      needsServers ? this.connections.requireServers() : [],
      this.#opts.tools(),
      this.#opts.secrets(),
    ]);
    const batch = await uploadBatch(sources, {
      servers,
      params: opts.params,
      clientSecret: secrets.lease,
      convergence: opts.convergent === false ? null : secrets.convergence,
      tools,
      signal: opts.signal,
    });
    const results: UploadFileResult[] = [];
    for (const [i, source] of sources.entries()) {
      const done = batch[i];
      // The rest one at a time: a batch's leftovers are few, or big files.
      results.push(
        done
          ? {
              node: this.open(formatCap(done.cap)),
              happiness: done.happiness,
              sentBytes: done.sentBytes,
              skippedBytes: 0,
            }
          : await this.upload(source, opts),
      );
    }
    return results;
  }

  probe(): Promise<ServerStatus[]> {
    return this.connections.probe();
  }

  close(): void {
    this.connections.close();
  }
}
