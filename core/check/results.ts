/**
 * What a check found, for every kind of file: where the shares are, whether k of them can
 * rebuild it (recoverable) and whether all N are there on distinct servers (healthy), and,
 * after a verify, which shares are corrupt. Plain data, so the CLI prints it as text or JSON
 * and the web app shows it.
 */
import { happinessOf, type ServerShares } from '../grid/happiness.ts';
import type { ServerId, ShareNum } from '../types.ts';

export interface ShareHolding {
  server: ServerId;
  shnum: number;
}

export interface CorruptShare extends ShareHolding {
  /** What failed (names the share and the field; never a key or cap). */
  reason: string;
}

export interface MutableVersionSeen {
  seqnum: number;
  /** Hex of the root hash: tells versions at one seqnum apart. */
  rootHash: string;
  distinctShares: number;
  recoverable: boolean;
}

export interface CheckResult {
  kind: 'literal' | 'immutable' | 'mutable';
  /** Base32 storage index; null for a literal file (nothing is stored). */
  storageIndex: string | null;
  healthy: boolean;
  recoverable: boolean;
  /** k and N of the file (of its newest version, for a mutable file). */
  needed: number;
  total: number;
  /** Share instances found (a share number held twice counts twice). */
  sharesFound: number;
  /** Distinct share numbers with a good copy. */
  distinctGoodShares: number;
  /** Servers holding at least one good share. */
  serversWithShares: number;
  /** Servers-of-happiness of the good shares. */
  happiness: number;
  /** Servers asked, and those that did not answer. */
  serversAsked: number;
  serversNotAnswering: number;
  holdings: ShareHolding[];
  /** Shares found bad (verify reads every byte; a plain check only what it must). */
  corrupt: CorruptShare[];
  /** True when every byte of every share was read and checked. */
  verified: boolean;
  /** Mutable files: every version seen, newest first. */
  versions?: MutableVersionSeen[];
  newestSeqnum?: number;
  /** Mutable files: two writers wrote different versions at the same sequence number. */
  uncoordinated?: boolean;
  /** Leases renewed (with --add-lease): servers that took the renewal. */
  leasesRenewed?: number;
  /** With --repair, on an unhealthy file: what the repairer did and the check after it. */
  repair?: RepairReport;
  /** One line for people, e.g. "10 shares on 10 servers — healthy". */
  summary: string;
}

export interface RepairReport {
  attempted: boolean;
  succeeded: boolean;
  /** Shares written, by server id. */
  written: { server: ServerId; shares: number[] }[];
  /** Why it failed (one line, no key or cap). */
  error?: string;
  after?: CheckResult;
}

/** Happiness and server count of good holdings. */
export function placementOf(good: readonly ShareHolding[]): { happiness: number; servers: number } {
  const edges = new Map<ServerId, Set<ShareNum>>();
  for (const h of good) {
    const set = edges.get(h.server) ?? new Set<ShareNum>();
    set.add(h.shnum as ShareNum);
    edges.set(h.server, set);
  }
  return { happiness: happinessOf(edges as ServerShares), servers: edges.size };
}

export function summarize(r: Omit<CheckResult, 'summary'>): string {
  if (r.kind === 'literal') return 'the file lives in its cap: nothing to check on the grid';
  const where = `${r.distinctGoodShares} of ${r.total} shares on ${r.serversWithShares} server(s)`;
  const bad = r.corrupt.length ? `; ${r.corrupt.length} corrupt share(s)` : '';
  const stale = r.uncoordinated ? '; two writers collided (versions at one seqnum)' : '';
  if (r.healthy) return `${where} — healthy${bad}${stale}`;
  if (r.recoverable) return `${where} — recoverable but not healthy (needs repair)${bad}${stale}`;
  return `${where} — not recoverable: ${r.needed} shares are needed${bad}${stale}`;
}
