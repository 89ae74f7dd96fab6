/**
 * Crash safety of a real `cairn server` process: RUNS times (100 in CI), uploads (the CHK
 * uploader: allocate, pipelined writes, close) and mutable writes (the publisher's
 * read-test-writes: whole SDMF and MDMF versions, MDMF in-place updates) stream to one
 * server, which is SIGKILLed at a random point of them (a random byte of what the client
 * sends, closes included; a few runs past the end), then restarted on its folder. After each
 * restart:
 *  - no half share is served: every immutable share listed is byte for byte the share the
 *    client wrote (so its hashes are the encoder's), and was closed by the client; every
 *    mutable share is whole, exactly the last version the server acknowledged or the one
 *    write then in flight, and passes every reader check (core/mutable/verify.ts verifyShare);
 *  - nothing acknowledged is lost: every share whose close() resolved is listed, every
 *    upload that finished downloads exactly, every read-test-write that succeeded is there
 *    (or the newer one in flight on top of it);
 *  - nothing is left over but unfinished uploads the server checkpointed (it keeps them for
 *    their clients to resume): incoming/ holds only data files each with a whole state file,
 *    every byte range a state vouches for is exactly what the client sent there, and no such
 *    share is listed; the journal is empty.
 * The runs are shared by two servers killed side by side (each its own folder and files); a
 * server keeps its history from run to run (its folder is never reset). Seeded: a failure
 * prints FAULTS_SEED; CRASH_RUNS overrides the count (FAULTS_FULL=1: 500).
 *
 * SIGKILL leaves the page cache alone, so this cannot tell a missing fsync (that takes a power
 * cut); it does tell an acknowledgement sent before the commit, a change applied without its
 * journal, and a share visible before it is whole.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChkCap, chkStorageIndex } from '../../core/caps/immutable.ts';
import {
  formatCapability,
  type MutableFormat,
  mutableWriteCapOf,
  parseCapability,
  storageIndexOf,
} from '../../core/caps/index.ts';
import type { MutableContext } from '../../core/client/context.ts';
import { MutableNode } from '../../core/client/mutable-node.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { downloadImmutable } from '../../core/grid/downloader.ts';
import { uploadImmutable } from '../../core/grid/uploader.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import type { Fingerprint } from '../../core/mutable/keys.ts';
import { verifyShare } from '../../core/mutable/verify.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { base32Decode, base32Encode } from '../../core/primitives/base32.ts';
import { decodeCbor } from '../../core/protocol/cbor.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { generateRsaKeyPair, type RsaKeyPair } from '../../core/primitives/rsa.ts';
import { connectStorageServer, type StorageConnection } from '../../core/protocol/client.ts';
import { StorageError, type ShareTestWrite } from '../../core/protocol/storage-api.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../../core/types.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import { FULL, type Random, seededRandom, useSeed } from '../harness/faults.ts';
import { cleanup, type SpawnedServer, spawnServer, tempDir } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import { IMMUTABLE_HEADER_BYTES } from '../../server/containers.ts';

const RUNS = Number(process.env.CRASH_RUNS ?? (FULL ? 500 : 100));
/** Servers killed side by side, each with its own folder, files and share of the runs. */
const LANES = 2;
const MUTABLE_K = 2;
const MUTABLE_N = 3;
/** Whole shares stay under one frame, so each share is one read-test-write (see publish.ts). */
const MAX_MUTABLE_BYTES = 200_000;

let codec: Awaited<ReturnType<typeof loadCodec>>;
const tools = () => ({ backend: nodeCrypto, codec });
const servers = new Set<SpawnedServer>();
/** Set when a lane fails: the others stop rather than run on past the test. */
let halted = false;

interface Slot {
  format: MutableFormat;
  keys: RsaKeyPair;
  cap: string;
  si: StorageIndex;
  fingerprint: Fingerprint;
  /** Per share: the bytes the server must hold at least (acknowledged). */
  acked: Map<number, Uint8Array>;
}

/** Three mutable files (SDMF, two MDMF) that live on one server through all its runs. */
async function makeSlots(): Promise<Slot[]> {
  const slots: Slot[] = [];
  for (const format of ['sdmf', 'mdmf', 'mdmf'] as const) {
    const keys = await generateRsaKeyPair();
    const cap = mutableWriteCapOf(format, keys.privateKey, keys.publicKey);
    slots.push({
      format,
      keys,
      cap: formatCapability(cap),
      si: storageIndexOf(cap),
      fingerprint: cap.fingerprint,
      acked: new Map(),
    });
  }
  return slots;
}

beforeAll(async () => {
  codec = await loadCodec();
}, 60_000);

afterAll(async () => {
  await Promise.all([...servers].map((s) => s.stop('SIGKILL')));
  cleanup();
});

// ---- what the client sent and what the server acknowledged --------------------------------

const key = (si: StorageIndex, sh: number) => `${toHex(si)}/${sh}`;

interface ImmutableShare {
  si: StorageIndex;
  sh: ShareNum;
  size: number;
  writes: { offset: number; data: Uint8Array }[];
  closeSent: boolean;
  closed: boolean;
}

interface MutableWriteSent {
  tw: ShareTestWrite;
  /** applied: the server said so; refused: it answered no (nothing changed); sent: no answer. */
  state: 'sent' | 'applied' | 'refused';
}

/**
 * A connection that records every share write and acknowledgement, counts the bytes it sends
 * (share data; a close or read-test-write counts 64 KiB more, so kills land there too) and
 * calls `kill` once they pass `killAt`.
 */
function recording(conn: StorageConnection, killAt: number, kill: () => Promise<void> | void) {
  const immutable = new Map<string, ImmutableShare>();
  const mutable = new Map<string, MutableWriteSent[]>();
  let sent = 0;
  /** Set when `kill` takes a while: nothing more is sent; every call waits, then fails. */
  let hold: Promise<void> | null = null;
  const held = () =>
    hold!.then(() => {
      throw new StorageError('UNAVAILABLE', 'not sent: the server was being killed');
    });
  const count = (n: number) => {
    const before = sent;
    sent += n;
    if (before < killAt && sent >= killAt) {
      const k = kill();
      if (k) hold = k.catch(() => {});
    }
  };
  const api: StorageConnection = new Proxy(conn, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'allocateBuckets') {
        return async (...a: Parameters<StorageConnection['allocateBuckets']>) => {
          if (hold) return held();
          const [si, , shares, size] = a;
          for (const sh of shares) {
            immutable.set(key(si, sh), { si, sh, size, writes: [], closeSent: false, closed: false });
          }
          return target.allocateBuckets(...a);
        };
      }
      if (prop === 'writeShare') {
        return (...a: Parameters<StorageConnection['writeShare']>) => {
          if (hold) return held();
          const [si, sh, , offset, data] = a;
          immutable.get(key(si, sh))?.writes.push({ offset, data: data.slice() });
          const p = target.writeShare(...a);
          count(data.length);
          return p;
        };
      }
      if (prop === 'writeShareAndClose') {
        // A share sent whole with its close (servers with 'write-close'): a write and a close.
        return async (...a: Parameters<NonNullable<StorageConnection['writeShareAndClose']>>) => {
          if (hold) return held();
          const [si, sh, , offset, data] = a;
          const s = immutable.get(key(si, sh))!;
          s.writes.push({ offset, data: data.slice() });
          s.closeSent = true;
          const p = target.writeShareAndClose!(...a);
          count(data.length + 64 * 1024);
          await p;
          s.closed = true;
        };
      }
      if (prop === 'closeShare') {
        return async (...a: Parameters<StorageConnection['closeShare']>) => {
          if (hold) return held();
          const s = immutable.get(key(a[0], a[1]))!;
          s.closeSent = true;
          const p = target.closeShare(...a);
          count(64 * 1024);
          await p;
          s.closed = true;
        };
      }
      if (prop === 'readTestWrite') {
        return async (...a: Parameters<StorageConnection['readTestWrite']>) => {
          if (hold) return held();
          const [si, , tws] = a;
          const records: MutableWriteSent[] = [];
          for (const [sh, tw] of tws) {
            const r: MutableWriteSent = { tw, state: 'sent' };
            records.push(r);
            const list = mutable.get(key(si, sh)) ?? [];
            list.push(r);
            mutable.set(key(si, sh), list);
          }
          const p = target.readTestWrite(...a);
          count(
            [...tws.values()].reduce(
              (n, tw) => n + tw.write.reduce((m, w) => m + w.data.length, 0),
              64 * 1024,
            ),
          );
          try {
            const result = await p;
            for (const r of records) r.state = result.success ? 'applied' : 'refused';
            return result;
          } catch (err) {
            // An answer that is an error changed nothing (read-test-write is all or nothing);
            // a connection that dropped or timed out may have had it applied.
            const answered =
              err instanceof StorageError && err.code !== 'UNAVAILABLE' && err.code !== 'TIMEOUT';
            if (answered) for (const r of records) r.state = 'refused';
            throw err;
          }
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { api, immutable, mutable, sent: () => sent };
}

/** A share after a read-test-write, as the server applies it (server/mutable-plan.ts). */
function applyWrite(share: Uint8Array, tw: ShareTestWrite): Uint8Array {
  let end = share.length;
  for (const w of tw.write) end = Math.max(end, w.offset + w.data.length);
  if (tw.newLength !== null && tw.newLength < end) end = tw.newLength;
  const out = new Uint8Array(end);
  out.set(share.subarray(0, Math.min(share.length, end)));
  for (const w of tw.write)
    out.set(w.data.subarray(0, Math.max(0, Math.min(w.data.length, end - w.offset))), w.offset);
  return out;
}

// ---- the workload --------------------------------------------------------------------------

interface Upload {
  data: Uint8Array;
  cap: ChkCap | null;
}

function mutableNode(slot: Slot, api: StorageConnection): MutableNode {
  const ctx: MutableContext = {
    servers: async () => [api],
    tools: async () => tools(),
    secrets: async () => ({ lease: new Uint8Array(32).fill(9) }),
    random: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
    defaults: { k: MUTABLE_K, n: MUTABLE_N },
  };
  const parsed = parseCapability(slot.cap);
  if (parsed.kind !== 'ssk-write') throw new Error('expected a write cap');
  return new MutableNode(parsed, ctx, slot.keys);
}

/** One run's writes, all at once; resolves when every one has ended (well or not). */
async function workload(rng: Random, api: StorageConnection, slots: Slot[]): Promise<Upload[]> {
  const uploads: Upload[] = Array.from({ length: 2 }, () => ({
    data: pattern(rng.int(30_000, 250_000), rng.int(1, 1 << 30)),
    cap: null,
  }));
  const jobs: Promise<unknown>[] = uploads.map(async (u) => {
    const r = await uploadImmutable(bytesSource(u.data), {
      servers: [api],
      params: { k: 1, happy: 1, n: 2, maxSegmentSize: 64 * 1024 },
      clientSecret: new Uint8Array(32).fill(7),
      convergence: null,
      tools: tools(),
    });
    u.cap = r.cap as ChkCap;
  });
  for (const slot of slots) {
    jobs.push(
      (async () => {
        const node = mutableNode(slot, api);
        const exists = slot.acked.size > 0;
        if (exists && slot.format === 'mdmf' && rng.next() < 0.5) {
          // In place: a few KiB somewhere in the file (perhaps past its end).
          const size = await node.size();
          const at = rng.int(0, Math.min(size + 1000, MAX_MUTABLE_BYTES / MUTABLE_K - 5000));
          await node.update(at, pattern(rng.int(1, 5000), rng.int(1, 1 << 30)));
        } else {
          const data = pattern(
            rng.int(1, Math.floor((MAX_MUTABLE_BYTES * MUTABLE_K) / 2)),
            rng.int(1, 1 << 30),
          );
          if (exists) await node.overwrite(data);
          else await node.publish(data, await node.servermap());
        }
      })(),
    );
  }
  await Promise.allSettled(jobs);
  return uploads;
}

// ---- the checks after a restart ---------------------------------------------------------------

async function readWhole(
  read: (offset: number, length: number) => Promise<Uint8Array>,
  size: number,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const b = await read(at, 1024 * 1024);
    parts.push(b);
    at += b.length;
    if (b.length < 1024 * 1024 || at >= size) break;
  }
  return Buffer.concat(parts);
}

async function checkImmutable(
  conn: StorageConnection,
  rec: ReturnType<typeof recording>,
  uploads: Upload[],
  where: string,
): Promise<{ acked: number; listedUnacked: number }> {
  const bySi = new Map<string, ImmutableShare[]>();
  for (const s of rec.immutable.values()) bySi.set(toHex(s.si), [...(bySi.get(toHex(s.si)) ?? []), s]);
  let acked = 0;
  let listedUnacked = 0;
  for (const shares of bySi.values()) {
    const si = shares[0].si;
    const listed = new Set<number>(await conn.listShares(si));
    for (const s of shares) {
      if (s.closed) {
        acked++;
        expect(
          listed.has(s.sh),
          `${where}: share ${s.sh} was acknowledged (close resolved) and is gone`,
        ).toBe(true);
      }
      if (!listed.has(s.sh)) continue;
      if (!s.closed) listedUnacked++;
      expect(s.closeSent, `${where}: share ${s.sh} is listed but the client never closed it`).toBe(true);
      const want = new Uint8Array(s.size);
      let covered = 0;
      for (const w of s.writes) {
        want.set(w.data, w.offset);
        covered += w.data.length;
      }
      expect(covered, `${where}: share ${s.sh}: the client wrote all of it`).toBe(s.size);
      const got = await readWhole((o, l) => conn.readShare(si, s.sh, o, l), s.size);
      expectBytesEqual(got, want, `${where}: immutable share ${s.sh} as served after the restart`);
    }
  }
  // An upload that finished reads back exactly from the restarted server.
  for (const u of uploads) {
    if (!u.cap) continue;
    const parts: Uint8Array[] = [];
    for await (const p of downloadImmutable(u.cap, { servers: [conn], tools: tools() }))
      parts.push(p.slice());
    expectBytesEqual(Buffer.concat(parts), u.data, `${where}: a finished upload`);
    expect(await conn.listShares(chkStorageIndex(u.cap.key))).toEqual([0, 1]);
  }
  return { acked, listedUnacked };
}

async function checkMutable(
  conn: StorageConnection,
  rec: ReturnType<typeof recording>,
  slots: Slot[],
  where: string,
): Promise<{ newer: number; applied: number }> {
  let newer = 0;
  let applied = 0;
  for (const slot of slots) {
    const listed = await conn.listMutableShares(slot.si);
    for (let sh = 0; sh < MUTABLE_N; sh++) {
      const before = slot.acked.get(sh) ?? null;
      const sent = rec.mutable.get(key(slot.si, sh)) ?? [];
      // The acknowledged state: every acked write in order on top of the last run's state.
      let acked = before;
      let inFlight: Uint8Array | null = null;
      for (const w of sent) {
        if (w.state === 'refused') continue;
        expect(inFlight, `${where}: a write went out after one with no answer`).toBe(null);
        const next = applyWrite(acked ?? new Uint8Array(0), w.tw);
        if (w.state === 'applied') {
          acked = next;
          applied++;
        } else inFlight = next;
      }
      const what = `${where}: ${slot.format} share ${sh}`;
      if (!listed.includes(asShareNum(sh))) {
        expect(acked === null, `${what}: acknowledged and gone`).toBe(true);
        continue;
      }
      const got = await readWhole(
        (o, l) => conn.readMutableShare(slot.si, asShareNum(sh), o, l),
        MAX_MUTABLE_BYTES * 2,
      );
      const isAcked = acked !== null && Buffer.from(got).equals(Buffer.from(acked));
      const isNew = inFlight !== null && Buffer.from(got).equals(Buffer.from(inFlight));
      expect(
        isAcked || isNew,
        `${what} is neither the acknowledged version (${acked?.length ?? 'none'} bytes) nor the one in flight (${inFlight?.length ?? 'none'} bytes): ${got.length} bytes`,
      ).toBe(true);
      if (isNew && !isAcked) newer++;
      // Whole and valid: every reader check passes.
      await verifyShare(sh, got, slot.fingerprint, nodeCrypto);
      slot.acked.set(sh, got);
    }
  }
  return { newer, applied };
}

/** A checkpoint's state file (server/backends/disk-backend.ts): magic, length, CBOR state, SHA-256. */
const STATE_MAGIC = Buffer.from('cairn-upload-checkpoint-v1\n');
const DATA_NAME = /^([a-z2-7]{26})\.(\d+)\.[0-9a-f]{16}$/;

/**
 * What a restarted server kept in incoming/: only unfinished uploads it checkpointed, each a
 * data file and a whole state file; every range a state vouches for holds exactly the bytes
 * the client sent there (a resumed upload skips them), and none of these shares is listed.
 */
async function checkIncoming(
  conn: StorageConnection,
  dir: string,
  sent: Map<string, ImmutableShare>,
  where: string,
): Promise<number> {
  const incoming = path.join(dir, 'storage', 'incoming');
  const names = new Set(await fs.readdir(incoming));
  let parked = 0;
  for (const name of names) {
    if (name.endsWith('.state')) {
      expect(names.has(name.slice(0, -6)), `${where}: incoming/${name} has no data beside it`).toBe(true);
      continue;
    }
    const m = DATA_NAME.exec(name);
    expect(m, `${where}: incoming/${name} is not an upload's data file`).not.toBe(null);
    expect(
      names.has(`${name}.state`),
      `${where}: incoming/${name} has no checkpoint and outlived a restart`,
    ).toBe(true);
    const si = asStorageIndex(base32Decode(m![1]));
    const sh = Number(m![2]);
    const share = sent.get(key(si, sh));
    expect(share, `${where}: incoming/${name} is a share the client never sent`).toBeDefined();
    const raw = await fs.readFile(path.join(incoming, `${name}.state`));
    expect(raw.subarray(0, STATE_MAGIC.length).equals(STATE_MAGIC), `${where}: ${name}.state magic`).toBe(
      true,
    );
    const end = STATE_MAGIC.length + 4 + raw.readUInt32BE(STATE_MAGIC.length);
    expect(raw.length, `${where}: ${name}.state is whole`).toBe(end + 32);
    expect(
      createHash('sha256').update(raw.subarray(0, end)).digest().equals(raw.subarray(end)),
      `${where}: ${name}.state checksum`,
    ).toBe(true);
    const state = decodeCbor(raw.subarray(STATE_MAGIC.length + 4, end), end) as {
      sh: number;
      size: number;
      ranges: [number, number][];
    };
    expect(state.sh, `${where}: ${name}.state share number`).toBe(sh);
    expect(state.size, `${where}: ${name}.state size`).toBe(share!.size);
    // What the client sent, byte by byte (undefined: never sent).
    const want = new Uint8Array(share!.size);
    const covered = new Uint8Array(share!.size);
    for (const w of share!.writes) {
      want.set(w.data, w.offset);
      covered.fill(1, w.offset, w.offset + w.data.length);
    }
    // The share's bytes follow the container header (server/containers.ts).
    const data = (await fs.readFile(path.join(incoming, name))).subarray(IMMUTABLE_HEADER_BYTES);
    for (const [a, b] of state.ranges) {
      expect(
        covered.subarray(a, b).every((c) => c === 1),
        `${where}: ${name}.state vouches for bytes ${a}..${b} the client never sent`,
      ).toBe(true);
      expectBytesEqual(
        data.subarray(a, b),
        want.subarray(a, b),
        `${where}: ${name} bytes ${a}..${b} as checkpointed`,
      );
    }
    expect(
      (await conn.listShares(si)).includes(asShareNum(sh)),
      `${where}: the unfinished share ${name} is listed`,
    ).toBe(false);
    parked++;
  }
  return parked;
}

// ---- the loop ------------------------------------------------------------------------------------

interface Tally {
  acked: number;
  mutableAcked: number;
  listedUnacked: number;
  newer: number;
  killedAfter: number;
  uploadsDone: number;
  /** Unfinished uploads a restarted server kept from its checkpoints (counted at each restart). */
  parked: number;
  /** Runs that stalled at the kill point until an upload in progress was checkpointed. */
  stalled: number;
}

async function start(dir: string): Promise<SpawnedServer> {
  const s = await spawnServer({ dir, bundled: true });
  servers.add(s);
  return s;
}

/** `runs` kill-and-restart runs against one server on its own folder. */
async function lane(name: string, runs: number, rng: Random, tally: Tally): Promise<void> {
  const dir = tempDir('cairn-crash-');
  const slots = await makeSlots();
  let server = await start(dir);
  let estimate = 2_000_000;
  const finished: Upload[] = [];
  /** Every immutable share the client has sent this server, all runs. */
  const sent = new Map<string, ImmutableShare>();
  for (let run = 0; run < runs && !halted; run++) {
    const where = `${name} run ${run + 1}/${runs}`;
    const conn = await connectStorageServer(server.url!, server.serverId, { requestTimeoutMs: 20_000 });
    const victim = server;
    let killed: Promise<unknown> | null = null;
    let stallError: unknown = null;
    const kill = () => {
      // A server that ended before we killed it crashed by itself: a failure of its own.
      if (victim.process.exitCode !== null || victim.process.signalCode !== null) {
        throw new Error(`${where}: the server exited by itself:\n${victim.output().slice(-4000)}`);
      }
      killed ??= victim.stop('SIGKILL');
    };
    // A random byte of what the run sends; one run in twelve past its end.
    const killAt = rng.int(0, Math.floor(estimate * 1.08));
    // One run in ten stalls there (the client sends nothing more) until the server has
    // checkpointed an upload in progress, then kills it: a parked upload crosses the restart.
    const stall = rng.next() < 0.1;
    const rec = recording(conn, killAt, () => {
      const inProgress = [...rec.immutable.values()].filter((s) => s.writes.length > 0 && !s.closeSent);
      if (!stall || inProgress.length === 0) {
        try {
          kill();
        } catch {
          // Reported below, once the run's writes have ended.
        }
        return;
      }
      tally.stalled++;
      const prefixes = inProgress.map((s) => `${base32Encode(s.si)}.${s.sh}.`);
      const incoming = path.join(dir, 'storage', 'incoming');
      return waitFor(
        async () =>
          (await fs.readdir(incoming)).some(
            (n) => n.endsWith('.state') && prefixes.some((p) => n.startsWith(p)),
          ),
        { what: `${where}: a checkpoint of an upload in progress (every 2 s)`, timeoutMs: 30_000 },
      ).then(
        () => kill(),
        (err) => {
          stallError = err;
          kill();
        },
      );
    });
    const uploads = await workload(rng, rec.api, slots);
    if (stallError) throw stallError;
    // What a whole run sends, for the next run's kill point.
    if (!killed) {
      tally.killedAfter++;
      estimate = rec.sent();
    } else estimate = Math.max(estimate, rec.sent());
    if (!killed) kill();
    await killed;
    servers.delete(victim);
    conn.close();

    server = await start(dir);
    expect(server.serverId).toBe(victim.serverId);
    const fresh = await connectStorageServer(server.url!, server.serverId);
    try {
      const imm = await checkImmutable(fresh, rec, uploads, where);
      // Uploads of earlier runs are all still there; one of them, read back whole.
      for (const u of finished) expect(await fresh.listShares(chkStorageIndex(u.cap!.key))).toEqual([0, 1]);
      if (finished.length > 0) {
        const u = rng.pick(finished);
        const parts: Uint8Array[] = [];
        for await (const p of downloadImmutable(u.cap!, { servers: [fresh], tools: tools() }))
          parts.push(p.slice());
        expectBytesEqual(Buffer.concat(parts), u.data, `${where}: an upload of an earlier run`);
      }
      finished.push(...uploads.filter((u) => u.cap));
      const mut = await checkMutable(fresh, rec, slots, where);
      tally.acked += imm.acked;
      tally.listedUnacked += imm.listedUnacked;
      tally.newer += mut.newer;
      tally.mutableAcked += mut.applied;
      tally.uploadsDone += uploads.filter((u) => u.cap).length;
      for (const s of rec.immutable.values()) sent.set(key(s.si, s.sh), s);
      tally.parked += await checkIncoming(fresh, dir, sent, where);
      expect(await fs.readdir(path.join(dir, 'storage', 'journal')), `${where}: journal/`).toEqual([]);
    } finally {
      fresh.close();
    }
  }
  await server.stop('SIGKILL');
  servers.delete(server);
}

describe('crash safety: SIGKILL during writes, restart on the same folder', () => {
  it(
    `${RUNS} runs: no half share is served, every acknowledged share is there and valid`,
    async () => {
      const rng = useSeed('crash safety');
      const started = Date.now();
      const tally: Tally = {
        acked: 0,
        mutableAcked: 0,
        listedUnacked: 0,
        newer: 0,
        killedAfter: 0,
        uploadsDone: 0,
        parked: 0,
        stalled: 0,
      };
      const seeds = Array.from({ length: LANES }, () => rng.int(0, 2 ** 31));
      const ends = await Promise.allSettled(
        seeds.map((seed, i) =>
          lane(
            `lane ${i + 1}`,
            Math.floor(RUNS / LANES) + (i < RUNS % LANES ? 1 : 0),
            seededRandom(seed),
            tally,
          ).catch((err) => {
            halted = true; // the other lanes stop at their next run
            throw err;
          }),
        ),
      );
      for (const e of ends) if (e.status === 'rejected') throw e.reason;
      // Not vacuous: writes were acknowledged, uploads finished, and kills fell inside writes.
      expect(tally.acked).toBeGreaterThan(RUNS / 4);
      expect(tally.uploadsDone).toBeGreaterThan(RUNS / 10);
      expect(tally.mutableAcked).toBeGreaterThan(RUNS / 4);
      expect(tally.killedAfter).toBeLessThan(RUNS / 3);
      // Checkpointed uploads crossed restarts, and were checked.
      if (tally.stalled > 0) expect(tally.parked).toBeGreaterThanOrEqual(tally.stalled);
      console.log(
        `crash safety: ${RUNS} runs in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
          `${tally.acked} acknowledged immutable shares kept, ${tally.listedUnacked} closed as the server died ` +
          `(whole), ${tally.newer} mutable shares at the write in flight (whole), ` +
          `${tally.mutableAcked} acknowledged mutable share writes kept, ` +
          `${tally.uploadsDone} finished uploads read back, ${tally.killedAfter} kills after the writes ended, ` +
          `${tally.stalled} runs stalled until a checkpoint, ` +
          `${tally.parked} checkpointed unfinished uploads seen after restarts (checked against what was sent)`,
      );
    },
    Math.max(300_000, RUNS * 5_000),
  );
});
