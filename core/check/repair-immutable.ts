/**
 * Repairing a CHK file (Tahoe's immutable repairer): download k shares' worth of verified
 * ciphertext, re-encode it to all N shares exactly as the uploader did (same segment size,
 * no key needed: a verify cap is enough), and upload only the share numbers the grid lacks,
 * placed for servers-of-happiness on servers that hold none. Re-encoding must end with the
 * cap's own UEB hash; if it does not, nothing is closed and the new shares are dropped.
 */
import { CairnError } from '../errors.ts';
import { ShareFinder } from '../grid/finder.ts';
import { leaseSecretsFor } from '../grid/lease.ts';
import { selectShareholders } from '../grid/select.ts';
import { NetworkShareReader } from '../grid/share-reader.ts';
import { ShareWriter } from '../grid/share-writer.ts';
import { decodeChk } from '../immutable/decoder.ts';
import { type EncodeTools, reencodeChk } from '../immutable/encoder.ts';
import { ChkIntegrityError, NotEnoughSharesError } from '../immutable/errors.ts';
import { planChk } from '../immutable/plan.ts';
import { type ChkIdentity, ChkShareVerifier } from '../immutable/share-verifier.ts';
import { sequentialSource } from '../immutable/source.ts';
import { equalBytes } from '../primitives/bytes.ts';
import type { StorageServerApi, UploadSecrets } from '../protocol/storage-api.ts';
import type { ServerId, ShareNum, StorageIndex } from '../types.ts';
import type { CheckResult } from './results.ts';

export interface RepairOptions {
  tools: EncodeTools;
  /** The client's lease secret: the new shares carry its lease. */
  clientSecret: Uint8Array;
  /** Servers-of-happiness the repaired file must reach (default min(7, N)). */
  happy?: number;
  /** What a check found: corrupt shares in it are replaced (placed elsewhere). */
  before: CheckResult;
  random?(n: number): Uint8Array;
  signal?: AbortSignal;
}

export interface RepairOutcome {
  /** Share numbers written, by server. */
  written: Map<ServerId, ShareNum[]>;
  happiness: number;
}

/** A server that does not admit holding the share numbers found corrupt there. */
function withoutCorrupt(server: StorageServerApi, corrupt: Set<number>): StorageServerApi {
  if (corrupt.size === 0) return server;
  return new Proxy(server, {
    get(target, prop, receiver) {
      if (prop === 'listShares') {
        return async (si: StorageIndex) => (await target.listShares(si)).filter((s) => !corrupt.has(s));
      }
      if (prop === 'allocateBuckets') {
        return async (si: StorageIndex, secrets: UploadSecrets, shares: ShareNum[], size: number) => {
          const r = await target.allocateBuckets(
            si,
            secrets,
            shares.filter((s) => !corrupt.has(s)),
            size,
          );
          // Nor in what its allocate says it holds.
          return r.held ? { ...r, held: r.held.filter((s) => !corrupt.has(s)) } : r;
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

export async function repairImmutable(
  si: StorageIndex,
  id: ChkIdentity,
  allServers: readonly StorageServerApi[],
  opts: RepairOptions,
): Promise<RepairOutcome> {
  const random = opts.random ?? ((n) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
  const corruptBy = new Map<ServerId, Set<number>>();
  for (const c of opts.before.corrupt) {
    const set = corruptBy.get(c.server) ?? new Set<number>();
    set.add(c.shnum);
    corruptBy.set(c.server, set);
  }
  const servers = allServers.map((s) => withoutCorrupt(s, corruptBy.get(s.serverId) ?? new Set()));

  // The file's segment size, from an authentic UEB.
  const finder = new ShareFinder(si, servers, 15_000);
  await finder.settled();
  const found = finder.found();
  if (found.length < id.k) throw new NotEnoughSharesError(id.k, found.length, []);
  let segmentSize: number | undefined;
  for (const shnum of found) {
    for (const h of finder.holders(shnum)) {
      try {
        const v = new ChkShareVerifier(id, (sh, o, l) => h.server.readShare(si, sh as ShareNum, o, l));
        segmentSize = (await v.openFile(shnum)).ueb.segmentSize;
        break;
      } catch (err) {
        if (err instanceof ChkIntegrityError) throw err;
      }
    }
    if (segmentSize !== undefined) break;
  }
  if (segmentSize === undefined) throw new NotEnoughSharesError(id.k, 0, []);

  const params = { k: id.k, n: id.n, happy: Math.min(opts.happy ?? 7, id.n), maxSegmentSize: segmentSize };
  const plan = planChk(id.size, params);
  if (plan.kind !== 'chk') throw new CairnError('BAD_INPUT', 'a literal file has nothing to repair');

  const uploadSecrets = new Map<ServerId, Uint8Array>();
  const uploadSecretFor = (serverId: ServerId) => {
    let s = uploadSecrets.get(serverId);
    if (!s) {
      s = random(32);
      uploadSecrets.set(serverId, s);
    }
    return s;
  };
  const shareholders = await selectShareholders({
    si,
    k: id.k,
    happy: params.happy,
    n: id.n,
    allocatedSize: plan.shareSize,
    servers,
    secretsFor: (serverId) => ({
      ...leaseSecretsFor(opts.clientSecret, si, serverId),
      upload: uploadSecretFor(serverId),
    }),
  });
  const writer = new ShareWriter({
    si,
    k: id.k,
    happy: params.happy,
    n: id.n,
    shareholders,
    uploadSecretFor,
    shareSize: plan.shareSize,
  });
  try {
    const reader = new NetworkShareReader(si, finder, found);
    const ciphertext = decodeChk({ ...id, key: null }, reader, {
      backend: opts.tools.backend,
      codec: opts.tools.codec,
    });
    for await (const step of reencodeChk(sequentialSource(ciphertext, id.size), params, opts.tools)) {
      if (opts.signal?.aborted) throw new CairnError('CANCELLED', 'the repair was cancelled');
      for (const w of step.writes) await writer.write(w.shnum, w.offset, w.data);
      if (step.kind === 'segment') step.release();
      if (step.kind === 'done' && !equalBytes(step.uebHash, id.uebHash)) {
        throw new ChkIntegrityError(
          're-encoding the verified ciphertext does not give the cap back; nothing was stored',
        );
      }
    }
    const { happiness } = await writer.close();
    return { written: writer.liveBuckets(), happiness };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
