/**
 * Who holds which version of a mutable file (Tahoe's servermap). Every server is asked which
 * shares of the slot it holds and for each share's first bytes; each share's public key is
 * checked against the cap and its signature over the signed prefix, so a version here is
 * one the key holder really wrote. Shares that fail are kept apart (a writer must still
 * overwrite them; a reader never uses them).
 */
import { toHex } from '../primitives/bytes.ts';
import type { StorageServerApi } from '../protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../types.ts';
import { permuteServers } from '../grid/permute.ts';
import { withTimeout } from '../grid/timeout.ts';
import type { Fingerprint } from './keys.ts';
import { bytesAt, fieldRange, type MutableShareHeader, parseHeader } from './layout.ts';
import { checkstringBytesOf, type SignedPrefix } from './prefix.ts';
import { checkPubkey, checkSignature } from './verify.ts';

/**
 * Bytes read from the start of every share: the prefix, offsets, public key and signature of
 * both formats (MDMF keeps them before byte 2167), and all of a small SDMF share. At most
 * MAX_READV_BYTES: one `mreadv` reads it from every share a server holds.
 */
export const HEAD_READ_BYTES = 4096;
/** The most a checkstring test compares (SDMF's). */
const MAX_CHECKSTRING = 57;

/** One share of the slot found on one server. */
export interface ShareSighting {
  readonly server: StorageServerApi;
  readonly shnum: ShareNum;
  /** The share's first bytes as read (up to HEAD_READ_BYTES). */
  readonly head: Uint8Array;
  /** What a writer's test vector compares: the share's current checkstring bytes. */
  readonly checkstring: Uint8Array;
}

/** A sighting whose key and signature check out. */
export interface VerifiedSighting extends ShareSighting {
  readonly header: MutableShareHeader;
  readonly pubkey: Uint8Array;
  readonly signature: Uint8Array;
}

/** One version (one signed prefix) and the shares of it that were seen. */
export interface MutableVersion {
  /** Hex of the signed prefix: equal keys, equal versions. */
  readonly key: string;
  readonly prefix: SignedPrefix;
  readonly header: MutableShareHeader;
  readonly shares: VerifiedSighting[];
}

export class ServerMap {
  readonly versions = new Map<string, MutableVersion>();
  /** Shares that exist but failed a check (bad key, bad signature, unreadable header). */
  readonly bad: { sighting: ShareSighting; error: Error }[] = [];
  /** Servers that answered the query, with or without shares. */
  readonly answered: StorageServerApi[] = [];
  /** Servers that did not answer (error or timeout). */
  readonly failed: { server: StorageServerApi; error: unknown }[] = [];

  /** Every share of the slot seen, whatever its state: what a writer must overwrite. */
  allSightings(): ShareSighting[] {
    const out: ShareSighting[] = [];
    for (const v of this.versions.values()) out.push(...v.shares);
    for (const b of this.bad) out.push(b.sighting);
    return out;
  }

  /** Distinct share numbers of a version. */
  static distinctShares(v: MutableVersion): number {
    return new Set(v.shares.map((s) => s.shnum)).size;
  }

  static recoverable(v: MutableVersion): boolean {
    return ServerMap.distinctShares(v) >= v.prefix.k;
  }

  /** The highest sequence number of any verified version (0 when the slot is empty). */
  highestSeqnum(): number {
    let max = 0;
    for (const v of this.versions.values()) max = Math.max(max, v.prefix.seqnum);
    return max;
  }

  /** Versions newest first: by sequence number, then by root hash (as Tahoe orders them). */
  ordered(): MutableVersion[] {
    return [...this.versions.values()].sort((a, b) => {
      if (a.prefix.seqnum !== b.prefix.seqnum) return b.prefix.seqnum - a.prefix.seqnum;
      return toHex(b.prefix.rootHash) < toHex(a.prefix.rootHash) ? -1 : 1;
    });
  }

  /** The newest version with at least k distinct shares, if any. */
  newestRecoverable(): MutableVersion | undefined {
    return this.ordered().find((v) => ServerMap.recoverable(v));
  }

  /**
   * True when the newest version seen is not the only one at its sequence number, or newer
   * versions than the best recoverable one exist: two writers did not coordinate.
   */
  uncoordinated(): boolean {
    const ordered = this.ordered();
    if (ordered.length < 2) return false;
    return ordered[0].prefix.seqnum === ordered[1].prefix.seqnum;
  }
}

export interface ServerMapOptions {
  /** Per-server timeout of the list and head reads (default 10 s). */
  timeoutMs?: number;
}

/** Caches signature checks: every share of a version carries the same prefix and signature. */
type SignatureCache = Map<string, Promise<boolean>>;

/** Asks every server (in the slot's permuted order, all at once) what it holds. */
export async function mapServers(
  si: StorageIndex,
  servers: readonly StorageServerApi[],
  fingerprint: Fingerprint,
  opts: ServerMapOptions = {},
): Promise<ServerMap> {
  const map = new ServerMap();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const signatures: SignatureCache = new Map();
  await Promise.all(
    permuteServers(si, servers).map(async (server) => {
      let heads: Map<ShareNum, Uint8Array>;
      try {
        heads = await withTimeout(
          server.readMutableShares(si, 0, HEAD_READ_BYTES),
          timeoutMs,
          'a storage server (read)',
        );
      } catch (error) {
        map.failed.push({ server, error });
        return;
      }
      map.answered.push(server);
      await Promise.all(
        [...heads].map(([shnum, head]) => addSighting(map, { server, shnum, head }, fingerprint, signatures)),
      );
    }),
  );
  return map;
}

async function addSighting(
  map: ServerMap,
  seen: { server: StorageServerApi; shnum: ShareNum; head: Uint8Array },
  fingerprint: Fingerprint,
  signatures: SignatureCache,
): Promise<void> {
  // Until the share parses, the most its checkstring can be is its first bytes.
  let sighting: ShareSighting = {
    ...seen,
    checkstring: seen.head.slice(0, Math.min(seen.head.length, MAX_CHECKSTRING)),
  };
  try {
    const header = parseHeader(seen.shnum, seen.head);
    sighting = { ...seen, checkstring: seen.head.slice(0, checkstringBytesOf(header.prefix.format)) };
    const pieces = [{ offset: 0, bytes: seen.head }];
    const pubkey = bytesAt(seen.shnum, pieces, fieldRange(header.layout, 'pubkey'), 'pubkey').slice();
    const signature = bytesAt(
      seen.shnum,
      pieces,
      fieldRange(header.layout, 'signature'),
      'signature',
    ).slice();
    checkPubkey(seen.shnum, pubkey, fingerprint);
    const key = toHex(header.prefixBytes);
    const cacheKey = `${key}:${toHex(signature)}`;
    let ok = signatures.get(cacheKey);
    if (!ok) {
      ok = checkSignature(seen.shnum, header, pubkey, signature).then(
        () => true,
        () => false,
      );
      signatures.set(cacheKey, ok);
    }
    if (!(await ok)) await checkSignature(seen.shnum, header, pubkey, signature); // throws the typed error
    let version = map.versions.get(key);
    if (!version) {
      version = { key, prefix: header.prefix, header, shares: [] };
      map.versions.set(key, version);
    }
    version.shares.push({ ...sighting, header, pubkey, signature });
  } catch (error) {
    map.bad.push({ sighting, error: error as Error });
  }
}
