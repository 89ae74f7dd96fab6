/**
 * Writing a version of a mutable file to the servers (tahoe-formats §4.9, §6.4, §7.3): every
 * share already on the grid is overwritten where it lies, share numbers found nowhere are
 * placed on the servers holding fewest (in the slot's permuted order), and each write is a
 * read-test-write whose test is the checkstring the servermap saw there (or "no share yet").
 * A test that fails means another writer got there first: nothing is forced, and the publish
 * ends with an UncoordinatedWriteError. Shares larger than one frame go in several calls; the
 * first carries the test and the new prefix, the rest test the new checkstring, so a second
 * writer can never interleave with ours on one share.
 */
import { leaseSecretsFor } from '../grid/lease.ts';
import { permuteServers } from '../grid/permute.ts';
import { withTimeout } from '../grid/timeout.ts';
import { CancelledError } from '../grid/errors.ts';
import { serverLeaseSeed } from '../protocol/identity.ts';
import { MAX_WRITE_BYTES } from '../protocol/limits.ts';
import type {
  MutableSecrets,
  ShareTestWrite,
  StorageServerApi,
  TestVector,
  WriteVector,
} from '../protocol/storage-api.ts';
import { asShareNum, type ServerId, type ShareNum, type StorageIndex } from '../types.ts';
import { writeEnabler, writeEnablerMaster, type WriteKey } from './keys.ts';
import type { ServerMap, ShareSighting } from './servermap.ts';
import type { MutableWrite } from './update.ts';
import { MutablePublishError, UncoordinatedWriteError } from './write-errors.ts';

/** Data one read-test-write carries at most (a frame holds MAX_WRITE_BYTES plus its envelope). */
const CALL_DATA_BYTES = MAX_WRITE_BYTES - 8 * 1024;

/** Where one share goes, and what must be there now for the write to go ahead. */
export interface Target {
  server: StorageServerApi;
  shnum: ShareNum;
  /** The checkstring the share holds now; null when the server must not hold one yet. */
  expect: Uint8Array | null;
}

export interface PublishContext {
  si: StorageIndex;
  writeKey: WriteKey;
  /** The client's lease secret (every write adds or renews this client's lease). */
  clientSecret: Uint8Array;
  /** Connected servers: where homeless shares may go. */
  servers: readonly StorageServerApi[];
  callTimeoutMs?: number;
  signal?: AbortSignal;
  /** Share bytes acknowledged so far, out of the total. */
  onProgress?(done: number, total: number): void;
}

export interface ShareWrites {
  /** Write vectors in ascending offset order; the first starts at 0 and covers the checkstring. */
  writes: readonly MutableWrite[];
  /** Truncate the share here after writing (null: keep its length). */
  newLength: number | null;
}

export interface PublishOutcome {
  /** Share numbers stored, by server. */
  placed: Map<ServerId, ShareNum[]>;
}

/** Every share the map saw stays where it is; share numbers seen nowhere go to the least-loaded servers. */
export function placeShares(
  si: StorageIndex,
  n: number,
  map: ServerMap,
  servers: readonly StorageServerApi[],
): Target[] {
  const targets: Target[] = [];
  const load = new Map<StorageServerApi, number>();
  const held = new Set<number>();
  for (const s of map.allSightings()) {
    if (s.shnum >= n) continue; // a share number the new version does not have: left alone
    targets.push({ server: s.server, shnum: s.shnum, expect: s.checkstring });
    load.set(s.server, (load.get(s.server) ?? 0) + 1);
    held.add(s.shnum);
  }
  const failed = new Set(map.failed.map((f) => f.server));
  const usable = permuteServers(si, servers).filter((s) => !failed.has(s));
  if (usable.length === 0 && held.size < n) {
    throw new MutablePublishError('no storage server is available to take the shares');
  }
  for (let sh = 0; sh < n; sh++) {
    if (held.has(sh)) continue;
    const server = leastLoaded(usable, load);
    targets.push({ server, shnum: asShareNum(sh), expect: null });
    load.set(server, (load.get(server) ?? 0) + 1);
  }
  return targets;
}

/** The first server (permuted order) among those holding fewest shares. */
function leastLoaded(
  servers: readonly StorageServerApi[],
  load: Map<StorageServerApi, number>,
): StorageServerApi {
  let best = servers[0];
  for (const s of servers) if ((load.get(s) ?? 0) < (load.get(best) ?? 0)) best = s;
  return best;
}

/** The calls that write one share: data split to fit frames, in offset order. */
function callsFor(sw: ShareWrites): WriteVector[][] {
  const calls: WriteVector[][] = [[]];
  let room = CALL_DATA_BYTES;
  for (const w of sw.writes) {
    for (let at = 0; at < w.data.length || (w.data.length === 0 && at === 0); ) {
      if (room === 0) {
        calls.push([]);
        room = CALL_DATA_BYTES;
      }
      const take = Math.min(room, w.data.length - at);
      calls[calls.length - 1].push({ offset: w.offset + at, data: w.data.subarray(at, at + take) });
      room -= take;
      at += take;
      if (w.data.length === 0) break;
    }
  }
  return calls;
}

function secretsFor(ctx: PublishContext, server: StorageServerApi): MutableSecrets {
  const seed = serverLeaseSeed(server.serverId);
  return {
    writeEnabler: writeEnabler(writeEnablerMaster(ctx.writeKey), seed),
    ...leaseSecretsFor(ctx.clientSecret, ctx.si, server.serverId),
  };
}

const testFor = (expect: Uint8Array | null): TestVector[] =>
  expect === null
    ? [{ offset: 0, size: 1, specimen: new Uint8Array(0) }]
    : [{ offset: 0, size: expect.length, specimen: expect }];

/**
 * Sends each share's writes to its targets. `newCheckstring` is the version's checkstring,
 * which later calls of a split share test. With `relocate`, a share whose server fails goes
 * to another server (whole-share writes); without, it is lost (in-place updates).
 */
export async function publishWrites(
  targets: readonly Target[],
  shares: ReadonlyMap<number, ShareWrites>,
  newCheckstring: Uint8Array,
  ctx: PublishContext,
  relocate: boolean,
): Promise<PublishOutcome> {
  const timeout = ctx.callTimeoutMs ?? 60_000;
  const total = targets.reduce(
    (n, t) => n + (shares.get(t.shnum)?.writes.reduce((a, w) => a + w.data.length, 0) ?? 0),
    0,
  );
  let done = 0;
  const placed = new Map<ServerId, ShareNum[]>();
  const surprises: ShareSighting[] = [];
  const dead = new Set<StorageServerApi>();
  const lost: Target[] = [];

  // One queue per server: its shares are written one after another, servers in parallel.
  const queues = new Map<StorageServerApi, Target[]>();
  const enqueue = (t: Target) => {
    const q = queues.get(t.server) ?? [];
    q.push(t);
    queues.set(t.server, q);
  };
  for (const t of targets) enqueue(t);

  const writeOne = async (t: Target): Promise<'ok' | 'surprise' | 'failed'> => {
    const sw = shares.get(t.shnum);
    if (!sw) throw new MutablePublishError(`no data for share ${t.shnum}`);
    const secrets = secretsFor(ctx, t.server);
    const calls = callsFor(sw);
    for (let i = 0; i < calls.length; i++) {
      if (ctx.signal?.aborted) throw new CancelledError('the write was cancelled');
      const last = i === calls.length - 1;
      const tw: ShareTestWrite = {
        test: testFor(i === 0 ? t.expect : newCheckstring),
        write: calls[i],
        newLength: last ? sw.newLength : null,
      };
      let result: Awaited<ReturnType<StorageServerApi['readTestWrite']>>;
      try {
        result = await withTimeout(
          t.server.readTestWrite(ctx.si, secrets, new Map([[t.shnum, tw]]), []),
          timeout,
          'a storage server (write)',
        );
      } catch {
        return 'failed';
      }
      if (!result.success) return 'surprise';
      done += calls[i].reduce((a, w) => a + w.data.length, 0);
      ctx.onProgress?.(done, total);
    }
    return 'ok';
  };

  const runServer = async (server: StorageServerApi): Promise<void> => {
    const queue = queues.get(server) ?? [];
    while (queue.length > 0) {
      const t = queue.shift()!;
      const outcome = dead.has(server) ? 'failed' : await writeOne(t);
      if (outcome === 'ok') {
        const list = placed.get(server.serverId) ?? [];
        list.push(t.shnum);
        placed.set(server.serverId, list);
      } else if (outcome === 'surprise') {
        surprises.push({
          server,
          shnum: t.shnum,
          head: new Uint8Array(0),
          checkstring: t.expect ?? new Uint8Array(0),
        });
      } else {
        dead.add(server);
        lost.push(t);
      }
    }
  };

  await Promise.all([...queues.keys()].map(runServer));
  // Shares whose server failed go, whole, to the live servers with fewest shares.
  while (relocate && lost.length > 0 && surprises.length === 0) {
    const live = permuteServers(ctx.si, ctx.servers).filter((s) => !dead.has(s));
    if (live.length === 0) break;
    const load = new Map<StorageServerApi, number>();
    for (const [id, list] of placed) {
      const s = live.find((x) => x.serverId === id);
      if (s) load.set(s, list.length);
    }
    // One new home per share number, and none for a number already stored on another server
    // in this publish: a share a server keeps refusing (say, a write enabler it does not
    // match) was moved by an earlier publish, and that copy was just written. Moving it again
    // would leave a copy more each time and, once every server held one, collide with our own
    // copy ("no share yet" fails there) and report another writer that does not exist.
    const homed = new Set<number>();
    for (const list of placed.values()) for (const sh of list) homed.add(sh);
    const batch: Target[] = [];
    for (const t of lost.splice(0)) {
      if (!homed.has(t.shnum)) batch.push(t);
      homed.add(t.shnum);
    }
    if (batch.length === 0) break;
    queues.clear();
    for (const t of batch) {
      const server = leastLoaded(live, load);
      load.set(server, (load.get(server) ?? 0) + 1);
      // A server we have not looked at may hold nothing there: test for "no share yet".
      enqueue({ server, shnum: t.shnum, expect: null });
    }
    await Promise.all([...queues.keys()].map(runServer));
  }
  if (surprises.length > 0) {
    throw new UncoordinatedWriteError(
      `another writer changed the file at the same time (${surprises.length} share write(s) found a version we had not seen); read it again and retry`,
    );
  }
  const stored = new Set<number>();
  for (const list of placed.values()) for (const sh of list) stored.add(sh);
  const wanted = new Set(targets.map((t) => t.shnum));
  if (stored.size < wanted.size) {
    throw new MutablePublishError(
      `only ${stored.size} of ${wanted.size} shares could be stored (${dead.size} server(s) failed)`,
    );
  }
  return { placed };
}
