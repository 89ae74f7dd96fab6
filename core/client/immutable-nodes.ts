/** Nodes for immutable files: LIT (data in the cap), CHK, and CHK verify caps. */
import {
  type ChkCap,
  type ChkVerifierCap,
  chkStorageIndex,
  formatCap,
  type LitCap,
  verifierOf,
} from '../caps/immutable.ts';
import { downloadImmutable } from '../grid/downloader.ts';
import { checkImmutable } from '../check/check-immutable.ts';
import { repairImmutable } from '../check/repair-immutable.ts';
import type { CheckResult } from '../check/results.ts';
import type { ChkIdentity } from '../immutable/share-verifier.ts';
import type { StorageIndex } from '../types.ts';
import type { NodeContext } from './context.ts';
import { CapAuthorityError } from './errors.ts';
import { renewLeases } from './leases.ts';
import type { CheckOptions, FileNode, ReadOptions } from './node.ts';

/** Checks a CHK file's shares (verify cap data suffices), renewing leases if asked. */
async function checkChk(
  si: StorageIndex,
  id: ChkIdentity,
  ctx: NodeContext,
  opts: CheckOptions,
): Promise<CheckResult> {
  const [servers, tools] = await Promise.all([ctx.servers(), ctx.tools()]);
  const result = await checkImmutable(si, id, servers, {
    verify: opts.verify,
    backend: tools.backend,
    onShareVerified: opts.onProgress,
  });
  if (opts.addLease) {
    const holders = servers.filter((s) => result.holdings.some((h) => h.server === s.serverId));
    result.leasesRenewed = await renewLeases(si, holders, (await ctx.secrets()).lease);
  }
  if (opts.repair && !result.healthy) {
    try {
      const outcome = await repairImmutable(si, id, servers, {
        tools: await ctx.tools(),
        clientSecret: (await ctx.secrets()).lease,
        before: result,
      });
      const after = await checkImmutable(si, id, await ctx.servers(), {
        backend: (await ctx.tools()).backend,
      });
      result.repair = {
        attempted: true,
        succeeded: after.healthy,
        written: [...outcome.written].map(([server, shares]) => ({ server, shares })),
        after,
      };
    } catch (err) {
      result.repair = { attempted: true, succeeded: false, written: [], error: (err as Error).message };
    }
  }
  return result;
}

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
  async check(): Promise<CheckResult> {
    const result: Omit<CheckResult, 'summary'> = {
      kind: 'literal',
      storageIndex: null,
      healthy: true,
      recoverable: true,
      needed: 0,
      total: 0,
      sharesFound: 0,
      distinctGoodShares: 0,
      serversWithShares: 0,
      happiness: 0,
      serversAsked: 0,
      serversNotAnswering: 0,
      holdings: [],
      corrupt: [],
      verified: true,
    };
    return { ...result, summary: 'the file lives in its cap: nothing to check on the grid' };
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
  check(opts: CheckOptions = {}): Promise<CheckResult> {
    return checkChk(chkStorageIndex(this.parsed.key), this.parsed, this.ctx, opts);
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
  constructor(
    readonly parsed: ChkVerifierCap,
    private readonly ctx: NodeContext,
  ) {
    this.cap = this.verifyCap = formatCap(parsed);
  }
  async size(): Promise<number> {
    return this.parsed.size;
  }
  check(opts: CheckOptions = {}): Promise<CheckResult> {
    return checkChk(this.parsed.storageIndex, this.parsed, this.ctx, opts);
  }
  // biome-ignore lint/correctness/useYield: a verify cap can never yield plaintext.
  async *read(): AsyncGenerator<Uint8Array> {
    throw new CapAuthorityError('that is a verify cap: it can check a file but not read it');
  }
}
