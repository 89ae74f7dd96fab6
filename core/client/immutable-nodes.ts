/** Nodes for immutable files: LIT (data in the cap), CHK, and CHK verify caps. */
import { type ChkCap, type ChkVerifierCap, formatCap, type LitCap, verifierOf } from '../caps/immutable.ts';
import { downloadImmutable } from '../grid/downloader.ts';
import type { NodeContext } from './context.ts';
import { CapAuthorityError } from './errors.ts';
import type { FileNode, ReadOptions } from './node.ts';

export class LiteralFileNode implements FileNode {
  readonly kind = 'literal';
  readonly cap: string;
  readonly writeCap = null;
  readonly readCap: string;
  readonly verifyCap = null;
  readonly readable = true;
  readonly writable = false;
  constructor(readonly parsed: LitCap) {
    this.cap = this.readCap = formatCap(parsed);
  }
  async size(): Promise<number> {
    return this.parsed.data.length;
  }
  async *read(opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const data = this.parsed.data;
    const start = Math.min(opts.offset ?? 0, data.length);
    const end = opts.length === undefined ? data.length : Math.min(data.length, start + opts.length);
    if (end > start) yield data.slice(start, end);
  }
}

export class ImmutableFileNode implements FileNode {
  readonly kind = 'immutable';
  readonly cap: string;
  readonly writeCap = null;
  readonly readCap: string;
  readonly verifyCap: string;
  readonly readable = true;
  readonly writable = false;
  constructor(
    readonly parsed: ChkCap,
    private readonly ctx: NodeContext,
  ) {
    this.cap = this.readCap = formatCap(parsed);
    this.verifyCap = formatCap(verifierOf(parsed));
  }
  async size(): Promise<number> {
    return this.parsed.size;
  }
  async *read(opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const [servers, tools] = await Promise.all([this.ctx.servers(), this.ctx.tools()]);
    yield* downloadImmutable(this.parsed, {
      servers,
      tools,
      offset: opts.offset,
      length: opts.length,
      signal: opts.signal,
      onShareError: opts.onShareError,
    });
  }
}

export class ImmutableVerifierNode implements FileNode {
  readonly kind = 'immutable';
  readonly cap: string;
  readonly writeCap = null;
  readonly readCap = null;
  readonly verifyCap: string;
  readonly readable = false;
  readonly writable = false;
  constructor(readonly parsed: ChkVerifierCap) {
    this.cap = this.verifyCap = formatCap(parsed);
  }
  async size(): Promise<number> {
    return this.parsed.size;
  }
  // biome-ignore lint/correctness/useYield: a verify cap can never yield plaintext.
  async *read(): AsyncGenerator<Uint8Array> {
    throw new CapAuthorityError('that is a verify cap: it can check a file but not read it');
  }
}
