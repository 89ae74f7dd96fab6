/**
 * The client: one grid's connections plus the node maker. `open(cap)` parses any cap once
 * and returns the node for it; `upload` stores a new immutable file. This is the only place
 * that decides what a cap's kind means; CLI commands and the tab's grid worker are thin
 * adapters over it.
 */
import { formatCap, parseCap } from '../caps/immutable.ts';
import { uploadImmutable } from '../grid/uploader.ts';
import type { EncodeTools } from '../immutable/encoder.ts';
import { type ChkParams, checkParams } from '../immutable/params.ts';
import { planChk } from '../immutable/plan.ts';
import type { PlaintextSource } from '../immutable/source.ts';
import type { ServerId } from '../types.ts';
import { GridConnections, type GridOptions, type ServerStatus } from './connections.ts';
import {
  ImmutableFileNode,
  ImmutableVerifierNode,
  LiteralFileNode,
  type NodeContext,
} from './immutable-nodes.ts';
import type { FileNode } from './node.ts';

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
}

export interface UploadFileOptions {
  params: ChkParams;
  /** Convergent key (default) or a random one. */
  convergent?: boolean;
  onProgress?(p: { encoded: number; acked: number; total: number }): void;
  onServerLost?(serverId: ServerId, reason: unknown): void;
  signal?: AbortSignal;
}

export interface UploadFileResult {
  node: FileNode;
  /** Servers-of-happiness reached (0 for a literal file). */
  happiness: number;
}

export class Grid {
  readonly connections: GridConnections;
  readonly #opts: GridClientOptions;
  readonly #ctx: NodeContext;

  constructor(opts: GridClientOptions) {
    this.#opts = opts;
    this.connections = new GridConnections(opts);
    this.#ctx = {
      servers: () => this.connections.requireServers(),
      tools: () => (opts.decodeTools ?? opts.tools)(),
    };
  }

  get url(): string | null {
    return this.connections.url;
  }

  /** The node for any cap Cairn knows; throws CapError for text that is not one. */
  open(capText: string): FileNode {
    const cap = parseCap(capText.trim());
    switch (cap.kind) {
      case 'lit':
        return new LiteralFileNode(cap);
      case 'chk':
        return new ImmutableFileNode(cap, this.#ctx);
      case 'chk-verifier':
        return new ImmutableVerifierNode(cap);
    }
  }

  /** Stores `source` as an immutable file; tiny files become literal caps and touch no server. */
  async upload(source: PlaintextSource, opts: UploadFileOptions): Promise<UploadFileResult> {
    checkParams(opts.params);
    const needsServers = planChk(source.size, opts.params).kind === 'chk';
    const [servers, tools, secrets] = await Promise.all([
      needsServers ? this.connections.requireServers() : [],
      this.#opts.tools(),
      this.#opts.secrets(),
    ]);
    const result = await uploadImmutable(source, {
      servers,
      params: opts.params,
      clientSecret: secrets.lease,
      convergence: opts.convergent === false ? null : secrets.convergence,
      tools,
      onProgress: opts.onProgress,
      onServerLost: opts.onServerLost,
      signal: opts.signal,
    });
    return { node: this.open(formatCap(result.cap)), happiness: result.happiness };
  }

  probe(): Promise<ServerStatus[]> {
    return this.connections.probe();
  }

  close(): void {
    this.connections.close();
  }
}
