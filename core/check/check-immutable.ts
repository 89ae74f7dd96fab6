/**
 * Checking a CHK file (Tahoe's checker and verifier): every server is asked which shares it
 * holds; with `verify`, every byte of every share is read and checked — its URI extension
 * block against the cap, its hash chain and block tree, every block — and each corrupt share
 * is named and reported to its server. A verify cap is enough: nothing is decrypted.
 */
import { base32Encode } from '../primitives/base32.ts';
import type { CryptoBackend } from '../primitives/crypto-backend.ts';
import { MAX_READ_BYTES } from '../protocol/limits.ts';
import type { StorageServerApi } from '../protocol/storage-api.ts';
import type { ShareNum, StorageIndex } from '../types.ts';
import { withTimeout } from '../grid/timeout.ts';
import { ChkIntegrityError, ShareCorruptError } from '../immutable/errors.ts';
import { blockOffset } from '../immutable/layout.ts';
import { blockLength } from '../immutable/params.ts';
import { badBlocks, type ChkIdentity, ChkShareVerifier } from '../immutable/share-verifier.ts';
import { type CheckResult, type CorruptShare, placementOf, type ShareHolding, summarize } from './results.ts';

export interface CheckOptions {
  /** Read and check every byte of every share. */
  verify?: boolean;
  backend: CryptoBackend;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Told of each share as it is verified (for progress). */
  onShareVerified?(done: number, total: number): void;
}

export interface Holder {
  server: StorageServerApi;
  shnum: ShareNum;
}

/** Who holds which shares (as `list` asks each server): every server asked at once. */
export async function findHolders(
  servers: readonly StorageServerApi[],
  list: (server: StorageServerApi) => Promise<ShareNum[]>,
  timeoutMs: number,
): Promise<{ holders: Holder[]; silent: number }> {
  let silent = 0;
  const holders: Holder[] = [];
  await Promise.all(
    servers.map(async (server) => {
      try {
        for (const shnum of await withTimeout(list(server), timeoutMs, 'a storage server (list)')) {
          holders.push({ server, shnum });
        }
      } catch {
        silent++;
      }
    }),
  );
  return { holders, silent };
}

/** Reads and checks every byte of one share; throws ShareCorruptError (or unavailable). */
export async function verifyChkShare(
  si: StorageIndex,
  id: ChkIdentity,
  h: Holder,
  backend: CryptoBackend,
): Promise<void> {
  const v = new ChkShareVerifier(
    id,
    (sh, offset, length) => h.server.readShare(si, sh as ShareNum, offset, length),
    backend,
  );
  const file = await v.openFile(h.shnum);
  const share = await v.activate(file, h.shnum);
  const { geometry, layout } = file;
  // Blocks are contiguous in a share: read as many segments' blocks at once as fit in a read.
  for (let s = 0; s < geometry.numSegments; ) {
    let last = s;
    while (
      last + 1 < geometry.numSegments &&
      blockOffset(layout, last + 2) - blockOffset(layout, s) <= MAX_READ_BYTES
    )
      last++;
    const start = blockOffset(layout, s);
    const end = blockOffset(layout, last) + blockLength(geometry, last);
    const bytes = await v.read(h.shnum, start, end - start, `blocks ${s}..${last}`);
    const blocks: Uint8Array[] = [];
    for (let t = s; t <= last; t++) {
      const at = blockOffset(layout, t) - start;
      blocks.push(bytes.subarray(at, at + blockLength(geometry, t)));
    }
    const bad = await badBlocks(share, s, blocks, backend);
    if (bad.length) throw new ShareCorruptError(h.shnum, `block ${bad[0]} fails its hash`);
    s = last + 1;
  }
}

export async function checkImmutable(
  si: StorageIndex,
  id: ChkIdentity,
  servers: readonly StorageServerApi[],
  opts: CheckOptions,
): Promise<CheckResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const { holders, silent } = await findHolders(servers, (s) => s.listShares(si), timeoutMs);
  const corrupt: CorruptShare[] = [];
  let good: Holder[] = holders.filter((h) => h.shnum < id.n);
  if (opts.verify) {
    let done = 0;
    const results = await Promise.all(
      good.map(async (h) => {
        try {
          await verifyChkShare(si, id, h, opts.backend);
          return true;
        } catch (err) {
          // A file whose UEB hashes right but says nonsense is not any share's fault.
          if (err instanceof ChkIntegrityError) throw err;
          const reason = err instanceof Error ? err.message : String(err);
          corrupt.push({ server: h.server.serverId, shnum: h.shnum, reason });
          if (err instanceof ShareCorruptError) {
            await h.server
              .adviseCorruptShare('immutable', si, h.shnum, reason.slice(0, 1000))
              .catch(() => {});
          }
          return false;
        } finally {
          opts.onShareVerified?.(++done, good.length);
        }
      }),
    );
    good = good.filter((_, i) => results[i]);
  }
  const holdings: ShareHolding[] = good.map((h) => ({ server: h.server.serverId, shnum: h.shnum }));
  const distinct = new Set(good.map((h) => h.shnum)).size;
  const { happiness, servers: serversWithShares } = placementOf(holdings);
  const result: Omit<CheckResult, 'summary'> = {
    kind: 'immutable',
    storageIndex: base32Encode(si),
    // Corrupt copies a server keeps do not make a file unhealthy once every share number
    // has a good copy somewhere (a repairer cannot delete them; it places good ones).
    healthy: distinct === id.n,
    recoverable: distinct >= id.k,
    needed: id.k,
    total: id.n,
    sharesFound: holders.length,
    distinctGoodShares: distinct,
    serversWithShares,
    happiness,
    serversAsked: servers.length,
    serversNotAnswering: silent,
    holdings,
    corrupt,
    verified: opts.verify === true,
  };
  return { ...result, summary: summarize(result) };
}
