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
 * must succeed; past it, it must fail with a typed error if the fault landed before it ended.
 *
 * The CI run covers every fault x kind x operation within tolerance, and one kind per fault and
 * operation past it; FAULTS_FULL=1 runs every combination, several times with fresh seeds.
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
/** A hung server costs a step at most this long. */
const REQUEST_TIMEOUT_MS = 3_000;

let grid: FaultGrid;

beforeAll(async () => {
  grid = await startFaultGrid({ servers: SERVERS, mutable: { k: K, n: SERVERS } });
}, TIMEOUT);

afterEach(() => {
  // A server or the relay that ended by itself crashed: that is a failure whatever the reads said.
  expect(takeCrashes()).toEqual([]);
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
    hit: (s) => s.slow({ delayMs: 40, bytesPerSec: 1_500_000, upBytesPerSec: 1_500_000 }),
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

/** Hits `count` random servers with `fault` once the transfer reaches a random point in [10%, 70%). */
function faultAt(rng: Random, fault: Fault, count: number) {
  const victims = rng.sample(grid.servers, count);
  const t = trigger(0.1 + 0.6 * rng.next(), async () => {
    await Promise.all(victims.map((v) => fault.hit(v)));
  });
  return { victims, t };
}

/** Runs `op` under the fault; returns its outcome and whether the fault landed before it ended. */
async function underFault<T>(op: Promise<T>, t: ReturnType<typeof faultAt>['t']) {
  const result = await outcome(op);
  const landed = await t.settle(Date.now());
  return { result, landed };
}

const UPLOAD_ERRORS = ['UNHAPPY', 'PUBLISH_FAILED', 'NO_SERVERS', 'UNCOORDINATED_WRITE'];
const READ_ERRORS = ['NOT_ENOUGH_SHARES', 'NO_SERVERS'];

/** Servers hit in an upload: within tolerance (CHK: N - happy; mutable: the same, shares move) or past it. */
const uploadHits = (kind: Kind, past: boolean) =>
  past ? (kind === 'chk' ? SERVERS - HAPPY + 1 : SERVERS - 1) : SERVERS - HAPPY;
/** Servers hit in a download: within tolerance N - k, past it N - k + 1. */
const downloadHits = (past: boolean) => (past ? SERVERS - K + 1 : SERVERS - K);

function cases(): { fault: Fault; kind: Kind; past: boolean }[] {
  const out: { fault: Fault; kind: Kind; past: boolean }[] = [];
  FAULTS.forEach((fault, fi) => {
    KINDS.forEach((kind, ki) => {
      out.push({ fault, kind, past: false });
      // Past tolerance: one kind per fault in CI (rotating), all of them in the full run.
      if (fault.loses && (FULL || ki === fi % KINDS.length)) out.push({ fault, kind, past: true });
    });
  });
  return out;
}

const ROUNDS = scaled(1, 4);

describe.each(cases())('$fault.name servers, $kind, past tolerance: $past', ({ fault, kind, past }) => {
  const label = `${fault.name} ${kind}${past ? ' past tolerance' : ''}`;

  it(
    'during an upload: the file is stored and reads back exactly, or the upload fails with a typed error',
    async () => {
      const rng = useSeed(`${label} upload`);
      for (let round = 0; round < ROUNDS; round++) {
        const c = client();
        const data = contents(kind);
        const f = faultAt(rng, fault, uploadHits(kind, past));
        const { result, landed } = await underFault(store(c, kind, data, f.t.progress), f.t);
        f.t.fire();
        await f.t.settle(0);
        if (!past || !fault.loses) {
          if (!result.ok) throw result.error;
        } else if (result.ok === false) {
          expectTyped(result.error, UPLOAD_ERRORS, label);
        } else if (landed && kind === 'chk') {
          expect.fail(
            `${label}: the upload succeeded with ${uploadHits(kind, past)} servers lost before it ended`,
          );
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

  if (kind !== 'chk') {
    it(
      'during a new version: the file reads back as the new version (or, if the write failed with a typed error, as one whole version)',
      async () => {
        const rng = useSeed(`${label} overwrite`);
        for (let round = 0; round < ROUNDS; round++) {
          const c = client();
          const v1 = contents(kind);
          const file: Stored = await store(c, kind, v1);
          const v2 = contents(kind, 0.7 + 0.6 * rng.next());
          const f = faultAt(rng, fault, uploadHits(kind, past));
          const { result } = await underFault(replace(c, file, v2, f.t.progress), f.t);
          f.t.fire();
          await f.t.settle(0);
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
        const f = faultAt(rng, fault, downloadHits(past));
        const { result } = await underFault(
          readBack(c, file.readCap, (got) => f.t.progress(got, data.length)),
          f.t,
        );
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
