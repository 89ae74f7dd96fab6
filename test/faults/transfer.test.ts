/**
 * Real `cairn server` processes killed (SIGKILL), hung (SIGSTOP) and slowed (a throttling proxy)
 * in the middle of uploads, mutable writes and downloads of CHK, MDMF and SDMF files, through
 * the client API (core/client Grid) on a grid of 7 servers behind a relay.
 *
 * Every run ends by the one rule: what is read back is exactly what was written (for a mutable
 * file: exactly one whole version, and the new one whenever its write reported success), or the
 * operation failed with a CairnError and a code; never other bytes, never a hang (the client's
 * request timeout bounds a hung server; the test timeout bounds the rest). Within what the
 * encoding tolerates (an upload losing N - happy servers, a download losing N - k) the operation
 * must succeed; past it, it may succeed only if it did not lose what it could not afford (a CHK
 * upload that succeeds reports happiness >= happy and lost at most N - happy servers), and
 * otherwise fails with a typed error.
 *
 * The CI run covers every fault x operation and every kind x operation within tolerance, and one
 * kind per losing fault, on every operation, past it (see cases()); FAULTS_FULL=1 runs every
 * combination, four rounds each.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Grid } from '../../core/client/index.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup } from '../harness/grid.ts';
import {
  type FaultGrid,
  type FaultServer,
  FULL,
  outcome,
  type Random,
  scaled,
  startFaultGrid,
  takeCrashes,
  useSeed,
} from '../harness/faults.ts';
import {
  contents,
  expectOneOf,
  expectTyped,
  KINDS,
  type Kind,
  readBack,
  replace,
  type Stored,
  store,
} from './files.ts';
import { trigger } from './trigger.ts';

const TIMEOUT = 240_000;
const SERVERS = 7;
const K = 3;
const HAPPY = 5;
/**
 * Every link paced (a few MB/s, a LAN rather than loopback): a transfer lasts long enough for
 * the fault to land in its middle, and each run checks that it did.
 */
const PACE = { bytesPerSec: 4_000_000, upBytesPerSec: 2_000_000 };
/** A hung server costs a step at most this long. */
const REQUEST_TIMEOUT_MS = 3_000;

let grid: FaultGrid;

beforeAll(async () => {
  grid = await startFaultGrid({ servers: SERVERS, mutable: { k: K, n: SERVERS }, pace: PACE });
}, TIMEOUT);

afterEach(async () => {
  // A server or the relay that ended by itself crashed: that is a failure whatever the reads said.
  expect(takeCrashes()).toEqual([]);
  // Whatever a failed test left behind, the next one starts on a whole grid.
  await grid.heal();
});

afterAll(async () => {
  await grid?.close();
  cleanup();
});

interface Fault {
  readonly name: 'killed' | 'hung' | 'slowed';
  hit(s: FaultServer): Promise<void> | void;
  /** Whether a hit server is lost to the operation (a slow one is not). */
  readonly loses: boolean;
}

const FAULTS: readonly Fault[] = [
  { name: 'killed', hit: (s) => s.kill(), loses: true },
  { name: 'hung', hit: (s) => s.hang(), loses: true },
  {
    name: 'slowed',
    hit: (s) => s.slow({ delayMs: 40, bytesPerSec: 400_000, upBytesPerSec: 300_000 }),
    loses: false,
  },
];

/** A client of the grid: short request timeout, so a hung server costs seconds, not minutes. */
function client(): Grid {
  return grid.client({ requestTimeoutMs: REQUEST_TIMEOUT_MS, connectTimeoutMs: 2_000 });
}

/** Reads `cap` with a client of its own (nothing cached from earlier). */
async function freshRead(cap: string): Promise<Uint8Array> {
  const c = client();
  try {
    return await readBack(c, cap);
  } finally {
    c.close();
  }
}

/**
 * Hits `count` random servers with `fault` once a random part, in [10%, 70%), of `bytes` has
 * gone through the servers' proxies (`way`: up for writes, down for reads). Counting bytes on
 * the wire, not the client's progress: an uploader's encoder runs ahead of its writes, and
 * its progress can jump from little to all at the end.
 */
function faultAt(rng: Random, fault: Fault, count: number, way: 'up' | 'down', bytes: number) {
  const victims = rng.sample(grid.servers, count);
  const t = trigger(0.1 + 0.6 * rng.next(), async () => {
    await Promise.all(victims.map((v) => fault.hit(v)));
  });
  const base = grid.traffic()[way];
  const watch = setInterval(() => t.progress(grid.traffic()[way] - base, bytes), 5);
  return { victims, t, watch };
}

/** Share bytes a write of `size` bytes sends: N shares of size/k. */
const written = (size: number) => Math.ceil(size / K) * SERVERS;

/**
 * Runs `op` under the fault and checks that the fault struck (its signal sent, its throttle
 * set) before `op` ended: a fault after the end would test nothing. Waits for the fault to
 * complete (a killed process gone) before returning `op`'s outcome.
 */
async function underFault<T>(op: Promise<T>, f: ReturnType<typeof faultAt>, label: string) {
  const result = await outcome(op);
  clearInterval(f.watch);
  const struck = f.t.fired;
  f.t.fire();
  await f.t.settle(0);
  expect(struck, `${label}: the fault struck before the transfer ended`).toBe(true);
  return result;
}

const UPLOAD_ERRORS = ['UNHAPPY', 'PUBLISH_FAILED', 'NO_SERVERS', 'UNCOORDINATED_WRITE'];
const READ_ERRORS = ['NOT_ENOUGH_SHARES', 'NO_SERVERS'];

/** Servers hit in an upload: within tolerance (CHK: N - happy; mutable: the same, shares move) or past it. */
const uploadHits = (kind: Kind, past: boolean) =>
  past ? (kind === 'chk' ? SERVERS - HAPPY + 1 : SERVERS - 1) : SERVERS - HAPPY;
/** Servers hit in a download: within tolerance N - k, past it N - k + 1. */
const downloadHits = (past: boolean) => (past ? SERVERS - K + 1 : SERVERS - K);

type Op = 'upload' | 'version' | 'download';

interface Case {
  fault: Fault;
  kind: Kind;
  past: boolean;
  ops: readonly Op[];
}

/**
 * FAULTS_FULL=1: every fault x kind x operation, within tolerance and past it. The CI run:
 * within tolerance, each fault on each operation with one kind, rotating so that every kind
 * meets every operation (fault i uploads kind i, downloads kind i + 1, writes a new version
 * of MDMF or SDMF in turn); past tolerance, one kind per losing fault (rotating), on every
 * operation.
 */
function cases(): Case[] {
  const out: Case[] = [];
  FAULTS.forEach((fault, fi) => {
    KINDS.forEach((kind, ki) => {
      const all: Op[] = kind === 'chk' ? ['upload', 'download'] : ['upload', 'version', 'download'];
      const ops = FULL
        ? all
        : all.filter(
            (op) =>
              (op === 'upload' && ki === fi % KINDS.length) ||
              (op === 'download' && ki === (fi + 1) % KINDS.length) ||
              (op === 'version' && kind === (['mdmf', 'sdmf'] as const)[fi % 2]),
          );
      if (ops.length > 0) out.push({ fault, kind, past: false, ops });
      if (fault.loses && (FULL || ki === fi % KINDS.length)) out.push({ fault, kind, past: true, ops: all });
    });
  });
  return out;
}

const ROUNDS = scaled(1, 4);

const labelled = cases().map(
  (c) => [`${c.kind}, ${c.fault.name} servers${c.past ? ', past tolerance' : ''}`, c] as const,
);

describe.each(labelled)('%s', (label, { fault, kind, past, ops }) => {
  // CHK past tolerance: the upload tries again by itself after losing servers (resumable
  // uploads). In even rounds the servers come back during its first pause, and it must finish;
  // in odd rounds they stay lost, and it must fail with a typed error after its (one) retry.
  const retrying = kind === 'chk' && past && fault.loses;
  const uploadRounds = retrying ? Math.max(2, ROUNDS) : ROUNDS;

  if (ops.includes('upload'))
    it(
      retrying
        ? 'during an upload: it retries by itself; with the servers back it finishes and reads back exactly, without them it fails with a typed error'
        : 'during an upload: the file is stored and reads back exactly, or the upload fails with a typed error',
      async () => {
        const rng = useSeed(`${label} upload`);
        for (let round = 0; round < uploadRounds; round++) {
          const c = client();
          const data = contents(kind);
          const comesBack = retrying && round % 2 === 0;
          const f = faultAt(rng, fault, uploadHits(kind, past), 'up', written(data.length));
          const lost = new Set<string>();
          let retries = 0;
          let healing: Promise<void> | null = null;
          const result = await underFault(
            store(c, kind, data, {
              onServerLost: (id) => lost.add(id),
              // Servers that stay lost: one retry is enough to show it gives up (each costs a pause).
              retries: retrying && !comesBack ? 1 : undefined,
              onRetry: () => {
                retries++;
                if (comesBack && !healing) healing = f.t.settle(0).then(() => grid.heal());
              },
            }),
            f,
            `${label} upload`,
          );
          await healing;
          if (retrying) {
            expect(retries, `${label}: retries after losing servers past tolerance`).toBeGreaterThan(0);
            if (comesBack) {
              if (!result.ok) throw result.error;
            } else {
              expect(result.ok, `${label}: an upload with too few servers left succeeded`).toBe(false);
              expect(retries, `${label}: retries`).toBe(1);
            }
          }
          if (!result.ok) {
            if (!past || !fault.loses) throw result.error;
            expectTyped(result.error, UPLOAD_ERRORS, label);
          }
          if (result.ok && kind === 'chk') {
            // A CHK upload that succeeds reached happiness; in one try it lost no more than N - happy.
            expect(result.value.happiness, `${label}: happiness`).toBeGreaterThanOrEqual(HAPPY);
            if (retries === 0) {
              expect(lost.size, `${label}: servers lost by an upload that succeeded`).toBeLessThanOrEqual(
                SERVERS - HAPPY,
              );
            }
            if (retrying) {
              // The retry resumed: what the servers already held was not sent again.
              expect(
                result.value.skippedBytes,
                `${label}: share bytes the retry did not send again`,
              ).toBeGreaterThan(0);
            }
          }
          if (result.ok) {
            // Read while the fault lasts (a fresh client), then once healed.
            expectBytesEqual(await freshRead(result.value.readCap), data, `${label}: read during the fault`);
            await grid.heal();
            expectBytesEqual(await freshRead(result.value.readCap), data, `${label}: read once healed`);
          }
          c.close();
          await grid.heal();
        }
      },
      TIMEOUT,
    );

  if (ops.includes('version')) {
    it(
      'during a new version: the file reads back as the new version (or, if the write failed with a typed error, as one whole version)',
      async () => {
        const rng = useSeed(`${label} overwrite`);
        for (let round = 0; round < ROUNDS; round++) {
          const c = client();
          const v1 = contents(kind);
          const file: Stored = await store(c, kind, v1);
          const v2 = contents(kind, 0.7 + 0.6 * rng.next());
          const f = faultAt(rng, fault, uploadHits(kind, past), 'up', written(v2.length));
          const result = await underFault(replace(c, file, v2), f, `${label} new version`);
          if (!result.ok) {
            if (!past && fault.loses) throw result.error;
            expectTyped(result.error, UPLOAD_ERRORS, label);
          }
          const during = await outcome(freshRead(file.readCap));
          if (during.ok) {
            const which = expectOneOf(during.value, [v1, v2], `${label}: read during the fault`);
            if (result.ok) expect(which, `${label}: a read during the fault got the old version`).toBe(1);
          } else {
            // Past tolerance a reader may find no recoverable version while servers are down.
            if (!past) throw during.error;
            expectTyped(during.error, READ_ERRORS, `${label}: read during the fault`);
          }
          await grid.heal();
          const after = await freshRead(file.readCap);
          const which = expectOneOf(after, [v1, v2], `${label}: read once healed`);
          if (result.ok) expect(which, `${label}: a successful write was lost`).toBe(1);
          c.close();
        }
      },
      TIMEOUT,
    );
  }

  if (ops.includes('download'))
    it(
      'during a download: the bytes are exactly the file, or the download fails with a typed error',
      async () => {
        const rng = useSeed(`${label} download`);
        for (let round = 0; round < ROUNDS; round++) {
          const data = contents(kind);
          const writer = client();
          const file = await store(writer, kind, data);
          writer.close();
          const c = client();
          const f = faultAt(rng, fault, downloadHits(past), 'down', data.length);
          const result = await underFault(readBack(c, file.readCap), f, `${label} download`);
          if (result.ok) {
            // Past tolerance a download may still succeed: what it needed may have arrived first.
            expectBytesEqual(result.value, data, `${label}: download`);
          } else {
            if (!past || !fault.loses) throw result.error;
            expectTyped(result.error, READ_ERRORS, label);
          }
          c.close();
          await grid.heal();
          // And the file is whole once the servers are back.
          expectBytesEqual(await freshRead(file.readCap), data, `${label}: read once healed`);
        }
      },
      TIMEOUT,
    );
});
