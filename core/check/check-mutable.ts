/**
 * Checking a mutable file: the servermap says which versions are where (every share's key
 * and signature already checked); with `verify`, every share of every version is read whole
 * and its hash trees and every block checked, a segment window at a time. Healthy means one
 * version, all N of its shares good, nothing corrupt, no rival version.
 */
import { toHex } from '../primitives/bytes.ts';
import { base32Encode } from '../primitives/base32.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { MAX_READ_BYTES } from '../protocol/limits.ts';
import type { StorageServerApi } from '../protocol/storage-api.ts';
import type { StorageIndex } from '../types.ts';
import { MutableShareCorruptError } from '../mutable/errors.ts';
import type { Fingerprint } from '../mutable/keys.ts';
import {
  readSegment,
  readVerificationMaterial,
  type SharePiece,
  segmentRange,
  verificationRanges,
} from '../mutable/layout.ts';
import { mapServers, ServerMap, type VerifiedSighting } from '../mutable/servermap.ts';
import { checkSegment, checkShareHashes } from '../mutable/verify.ts';
import { type CheckResult, type CorruptShare, placementOf, summarize } from './results.ts';

export interface MutableCheckOptions {
  verify?: boolean;
  backend: CryptoBackend;
  timeoutMs?: number;
  onShareVerified?(done: number, total: number): void;
}

/** Reads and checks every byte of one share of a version (its key and signature already are). */
export async function verifyMutableShare(
  si: StorageIndex,
  s: VerifiedSighting,
  backend: CryptoBackend,
): Promise<void> {
  const read = async (offset: number, length: number): Promise<SharePiece> => ({
    offset,
    bytes: await s.server.readMutableShare(si, s.shnum, offset, length),
  });
  const head: SharePiece = { offset: 0, bytes: s.head };
  const pieces: SharePiece[] = [head];
  for (const r of verificationRanges(s.header.layout)) {
    if (r.offset + r.length > s.head.length) pieces.push(await read(r.offset, r.length));
  }
  const m = readVerificationMaterial(s.shnum, s.header, pieces);
  const leaves = checkShareHashes(s.shnum, s.header, m.chain, m.blockHashTree);
  const n = s.header.prefix.numSegments;
  for (let first = 0; first < n; ) {
    let last = first;
    const start = segmentRange(s.header, first).offset;
    while (last + 1 < n) {
      const r = segmentRange(s.header, last + 1);
      if (r.offset + r.length - start > MAX_READ_BYTES) break;
      last++;
    }
    const end = segmentRange(s.header, last);
    const piece = await read(start, end.offset + end.length - start);
    for (let seg = first; seg <= last; seg++) {
      await checkSegment(
        s.shnum,
        s.header,
        seg,
        leaves,
        readSegment(s.shnum, s.header, seg, [piece]),
        backend,
      );
    }
    first = last + 1;
  }
}

export async function checkMutable(
  si: StorageIndex,
  fingerprint: Fingerprint,
  servers: readonly StorageServerApi[],
  opts: MutableCheckOptions,
): Promise<CheckResult> {
  const map = await mapServers(si, servers, fingerprint, { timeoutMs: opts.timeoutMs });
  const corrupt: CorruptShare[] = map.bad.map((b) => ({
    server: b.sighting.server.serverId,
    shnum: b.sighting.shnum,
    reason: b.error.message,
  }));
  // Shares whose key or signature failed are reported to their servers, as Tahoe does.
  for (const b of map.bad) {
    if (b.error instanceof MutableShareCorruptError) {
      await b.sighting.server
        .adviseCorruptShare('mutable', si, b.sighting.shnum, b.error.message.slice(0, 1000))
        .catch(() => {});
    }
  }
  if (opts.verify) {
    const all = map.ordered().flatMap((v) => v.shares);
    let done = 0;
    const bad = new Set<VerifiedSighting>();
    await Promise.all(
      all.map(async (s) => {
        try {
          await verifyMutableShare(si, s, opts.backend);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          corrupt.push({ server: s.server.serverId, shnum: s.shnum, reason });
          bad.add(s);
          if (err instanceof MutableShareCorruptError) {
            await s.server.adviseCorruptShare('mutable', si, s.shnum, reason.slice(0, 1000)).catch(() => {});
          }
        } finally {
          opts.onShareVerified?.(++done, all.length);
        }
      }),
    );
    for (const v of map.versions.values()) {
      const kept = v.shares.filter((s) => !bad.has(s));
      v.shares.splice(0, v.shares.length, ...kept);
    }
  }
  const ordered = map.ordered();
  const best = map.newestRecoverable();
  const good = best?.shares ?? [];
  const holdings = good.map((s) => ({ server: s.server.serverId, shnum: s.shnum }));
  const { happiness, servers: serversWithShares } = placementOf(holdings);
  const distinct = best ? ServerMap.distinctShares(best) : 0;
  const newest = ordered[0];
  const result: Omit<CheckResult, 'summary'> = {
    kind: 'mutable',
    storageIndex: base32Encode(si),
    healthy: best !== undefined && distinct === best.prefix.n && corrupt.length === 0 && ordered.length === 1,
    recoverable: best !== undefined,
    needed: (best ?? newest)?.prefix.k ?? 0,
    total: (best ?? newest)?.prefix.n ?? 0,
    sharesFound: map.allSightings().length,
    distinctGoodShares: distinct,
    serversWithShares,
    happiness,
    serversAsked: servers.length,
    serversNotAnswering: map.failed.length,
    holdings,
    corrupt,
    verified: opts.verify === true,
    versions: ordered.map((v) => ({
      seqnum: v.prefix.seqnum,
      rootHash: toHex(v.prefix.rootHash),
      distinctShares: ServerMap.distinctShares(v),
      recoverable: ServerMap.recoverable(v),
    })),
    newestSeqnum: map.highestSeqnum(),
    uncoordinated: map.uncoordinated(),
  };
  return { ...result, summary: summarize(result) };
}
