/**
 * Servers whose disks corrupt shares: one corruptor per share field (test/harness/corrupt.ts,
 * as Tahoe's test grid has), on real `cairn server` processes, for CHK, MDMF and SDMF files.
 *
 *  - At rest, each field: flipped in N - k shares, the file still reads back exactly; flipped
 *    in every share, it reads back exactly (a field readers do not use) or fails with a typed
 *    error. Never other bytes.
 *  - Mutable writes over shares corrupt in each field: a new version replaces them and reads
 *    back exactly (or, with every share corrupt, the write fails with a typed error and the
 *    file reads as one whole version); an MDMF in-place update over corrupt shares ends with
 *    the updated bytes or a typed error, and the file reads as one whole version.
 *  - During a download: blocks later in the file go bad in N - k shares (the primaries among
 *    them) while the download runs; it switches shares mid-stream and returns the exact bytes.
 *  - During an upload: bits flip in the shares being written (the server's incoming files);
 *    they land in the stored shares, and the file still reads back exactly.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCapability, storageIndexOf } from '../../core/caps/index.ts';
import { type Grid, readAll } from '../../core/client/index.ts';
import { base32Encode } from '../../core/primitives/base32.ts';
import { expectBytesEqual, pattern } from '../harness/bytes.ts';
import {
  corruptField,
  flipBit,
  IMMUTABLE_FIELDS,
  immutableFieldRanges,
  MUTABLE_FIELDS,
  mutableFieldRanges,
} from '../harness/corrupt.ts';
import { type FaultGrid, outcome, scaled, startFaultGrid, takeCrashes, useSeed } from '../harness/faults.ts';
import { cleanup } from '../harness/grid.ts';
import { waitFor } from '../harness/wait.ts';
import { expectOneOf, expectTyped, KINDS, type Kind, readBack, store, type Stored } from './files.ts';

const TIMEOUT = 240_000;
const SERVERS = 7;
const K = 3;
const ROUNDS = scaled(1, 3);

let grid: FaultGrid;
let client: Grid;

beforeAll(async () => {
  grid = await startFaultGrid({ servers: SERVERS, mutable: { k: K, n: SERVERS } });
  client = grid.client();
}, TIMEOUT);

afterEach(() => {
  expect(takeCrashes()).toEqual([]);
});

afterAll(async () => {
  await grid?.close();
  cleanup();
});

/** Every share file of a stored file: [path, shnum], one per share (each server holds one). */
async function shareFiles(file: Stored): Promise<{ path: string; shnum: number }[]> {
  const si = base32Encode(storageIndexOf(parseCapability(file.readCap))!);
  const out: { path: string; shnum: number }[] = [];
  for (const s of grid.servers) {
    const dir = path.join(s.dir, 'storage', 'shares', si.slice(0, 2), si);
    for (const name of await fs.readdir(dir).catch(() => []))
      out.push({ path: path.join(dir, name), shnum: Number(name) });
  }
  return out.sort((a, b) => a.shnum - b.shnum);
}

/** Keeps the files' bytes; restore() puts them back in place (same inode, as the servers hold them). */
async function snapshot(files: { path: string }[]) {
  const saved = await Promise.all(
    files.map(async (f) => ({ path: f.path, bytes: await fs.readFile(f.path) })),
  );
  return {
    async restore() {
      for (const s of saved) {
        const h = await fs.open(s.path, 'r+');
        try {
          await h.write(s.bytes, 0, s.bytes.length, 0);
          await h.truncate(s.bytes.length);
        } finally {
          await h.close();
        }
      }
    },
  };
}

/** The fields of a kind's shares that exist in its format. */
function fieldsOf(kind: Kind, sample: Uint8Array): string[] {
  const present = new Set(
    (kind === 'chk' ? immutableFieldRanges(sample) : mutableFieldRanges(sample)).map((r) => r.field),
  );
  return (kind === 'chk' ? [...IMMUTABLE_FIELDS] : [...MUTABLE_FIELDS]).filter((f) => present.has(f));
}

/** Fields the server reads once per share and keeps (server/reader-cache.ts): they need a fresh file. */
const CACHED_BY_SERVER = new Set(['container version', 'container data length', 'container lease count']);

const READ_ERRORS = ['NOT_ENOUGH_SHARES', 'UNSUPPORTED_SHARE'];

/** Whether a mutable share file is whole enough for the corruptors to find its fields. */
async function parses(file: string): Promise<boolean> {
  try {
    mutableFieldRanges(new Uint8Array(await fs.readFile(file)));
    return true;
  } catch {
    return false;
  }
}

describe.each(KINDS)('%s shares corrupt at rest, one field at a time', (kind) => {
  it(
    'in N - k shares: read back exactly; in every share: exactly or a typed error',
    async () => {
      const rng = useSeed(`corrupt at rest ${kind}`);
      const size = kind === 'sdmf' ? 100_003 : 300_007;
      let shared: { file: Stored; data: Uint8Array } | null = null;
      const fresh = async () => {
        const data = pattern(size, rng.int(1, 1 << 30));
        return { file: await store(client, kind, data), data };
      };
      shared = await fresh();
      const fields = fieldsOf(kind, await fs.readFile((await shareFiles(shared.file))[0].path));
      const summary: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const field of fields) {
          const { file, data } = CACHED_BY_SERVER.has(field) && kind === 'chk' ? await fresh() : shared;
          const shares = await shareFiles(file);
          expect(shares.map((s) => s.shnum)).toEqual([0, 1, 2, 3, 4, 5, 6]);
          const saved = await snapshot(shares);
          // N - k shares bad: must read back exactly.
          const some = rng.sample(shares, SERVERS - K);
          for (const s of some) await corruptField(s.path, field, rng);
          const read1 = await outcome(readBack(client, file.readCap));
          if (!read1.ok) {
            throw new Error(
              `${kind} '${field}' bad in shares ${some.map((s) => s.shnum)}: ${(read1.error as Error).message}`,
            );
          }
          expectBytesEqual(read1.value, data, `${kind} '${field}' bad in ${SERVERS - K} shares`);
          await saved.restore();
          // Every share bad.
          for (const s of shares) await corruptField(s.path, field, rng);
          const read2 = await outcome(readBack(client, file.readCap));
          if (read2.ok) {
            expectBytesEqual(read2.value, data, `${kind} '${field}' bad in every share`);
            summary.push(`${field}: read`);
          } else {
            expectTyped(read2.error, READ_ERRORS, `${kind} '${field}' bad in every share`);
            summary.push(`${field}: ${(read2.error as { code: string }).code}`);
          }
          await saved.restore();
        }
      }
      console.log(
        `${kind}, every share corrupt in one field -> ${summary.slice(0, fields.length).join('; ')}`,
      );
    },
    TIMEOUT,
  );
});

describe.each(['mdmf', 'sdmf'] as const)('%s: writes over corrupt shares', (kind) => {
  it(
    'a new version over shares corrupt in each field reads back exactly; with every share corrupt, exactly or a typed error',
    async () => {
      const rng = useSeed(`write over corrupt ${kind}`);
      const file = await store(client, kind, pattern(kind === 'sdmf' ? 50_001 : 300_007, 5));
      const fields = fieldsOf(kind, await fs.readFile((await shareFiles(file))[0].path));
      let current = await readBack(client, file.readCap);
      let steps = 0;
      for (const field of fields) {
        for (const every of [false, true]) {
          const shares = await shareFiles(file);
          const saved = await snapshot(shares);
          // Shares an earlier step left bad where no write could reach them (a server that
          // refuses our write enabler keeps its old share) are bad already: leave them be.
          const intact = [];
          for (const s of shares) if (await parses(s.path)) intact.push(s);
          const victims = every ? intact : rng.sample(intact, 2);
          for (const s of victims) await corruptField(s.path, field, rng);
          const next = pattern(
            kind === 'sdmf' ? 40_000 + rng.int(0, 30_000) : 200_000 + rng.int(0, 200_000),
            rng.int(1, 1 << 30),
          );
          const what = `${kind}: new version over '${field}' bad in ${every ? 'every share' : '2 shares'}`;
          // A fresh writer: it must find the signing key in the shares (encprivkey) itself.
          const writer = grid.client({ secretByte: 2 });
          const w = await outcome(writer.openMutable(file.cap).overwrite(next));
          writer.close();
          if (!w.ok) {
            if (!every) throw new Error(`${what}: ${(w.error as Error).message}`);
            expectTyped(
              w.error,
              ['NOT_ENOUGH_SHARES', 'SHARE_CORRUPT', 'UNSUPPORTED_SHARE', 'PUBLISH_FAILED'],
              what,
            );
          }
          const got = await outcome(readBack(client, file.readCap));
          if (got.ok) {
            const which = expectOneOf(got.value, [current, next], what);
            if (w.ok) expect(which, `${what}: the write succeeded but reads get the old version`).toBe(1);
            if (which === 1) current = next;
          } else {
            // Every share corrupt and the write refused: nothing readable is allowed, wrong bytes are not.
            expect(w.ok, `${what}: the write succeeded but the file cannot be read`).toBe(false);
            expectTyped(got.error, ['NOT_ENOUGH_SHARES', 'UNSUPPORTED_SHARE'], what);
          }
          if (!w.ok) {
            // Back to the last good state for the next field: the shares as they were, and
            // none of the ones the failed write may have placed elsewhere.
            const before = new Set(shares.map((x) => x.path));
            for (const extra of await shareFiles(file)) if (!before.has(extra.path)) await fs.rm(extra.path);
            await saved.restore();
            expectBytesEqual(await readBack(client, file.readCap), current, `${what}: restored`);
          }
          steps++;
        }
      }
      expect(steps).toBe(2 * fields.length);
    },
    TIMEOUT,
  );
});

describe.each(['mdmf', 'sdmf'] as const)('%s: a share whose server refuses our writes', (kind) => {
  // Failed before the fix in core/mutable/publish.ts: each new version moved the refused share
  // to one more server, and once all held a copy, every write failed with
  // UncoordinatedWriteError (another writer that did not exist), for good.
  it(
    'N + 2 new versions in a row all succeed, and the share is moved once, not once per version',
    async () => {
      const rng = useSeed(`refused share ${kind}`);
      const file = await store(client, kind, pattern(60_001, rng.int(1, 1 << 30)));
      const refused = rng.pick(await shareFiles(file));
      await corruptField(refused.path, 'write enabler', rng);
      let last: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < SERVERS + 2; i++) {
        last = pattern(50_000 + i, rng.int(1, 1 << 30));
        const writer = grid.client({ secretByte: 7 });
        try {
          await writer.openMutable(file.cap).overwrite(last);
        } finally {
          writer.close();
        }
      }
      const held = await shareFiles(file);
      expect(held.filter((s) => s.shnum === refused.shnum)).toHaveLength(2);
      expect(held).toHaveLength(SERVERS + 1);
      expectBytesEqual(await readBack(client, file.readCap), last, `${kind} after ${SERVERS + 2} versions`);
    },
    TIMEOUT,
  );
});

describe('MDMF in-place update over corrupt shares', () => {
  it(
    'ends with the updated bytes, or a typed error and one whole version',
    async () => {
      const rng = useSeed('update over corrupt');
      const fields = [
        'block hash tree',
        'block',
        'salt',
        'share hash chain',
        'signature',
        'pubkey',
        'root hash',
        'encprivkey',
      ];
      for (const field of fields) {
        const v1 = pattern(4 * 131_073 + 99, rng.int(1, 1 << 30));
        const file = await store(client, 'mdmf', v1);
        const shares = await shareFiles(file);
        for (const s of rng.sample(shares, 2)) await corruptField(s.path, field, rng);
        const at = rng.int(0, v1.length - 1000);
        const patch = pattern(1000, rng.int(1, 1 << 30));
        const v2 = v1.slice();
        v2.set(patch, at);
        const writer = grid.client({ secretByte: 4 });
        const u = await outcome(writer.openMutable(file.cap).update(at, patch));
        writer.close();
        const what = `update over '${field}' bad in 2 shares`;
        if (!u.ok) expectTyped(u.error, ['SHARE_CORRUPT', 'NOT_ENOUGH_SHARES', 'PUBLISH_FAILED'], what);
        const which = expectOneOf(await readBack(client, file.readCap), [v1, v2], what);
        if (u.ok) expect(which, `${what}: the update succeeded but reads get the old version`).toBe(1);
      }
    },
    TIMEOUT,
  );
});

/** The byte range of the blocks of a share file (CHK: all blocks; mutable: the segments' salts and blocks). */
function blockArea(kind: Kind, bytes: Uint8Array): { start: number; end: number } {
  if (kind === 'chk') return immutableFieldRanges(bytes).find((r) => r.field === 'blocks')!;
  const ranges = mutableFieldRanges(bytes);
  const sig = ranges.find((r) => r.field === 'share data offset')!;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const off = (r: { start: number; end: number }) =>
    r.end - r.start === 4 ? view.getUint32(r.start) : Number(view.getBigUint64(r.start));
  const start = 468 + off(sig);
  const end =
    468 +
    off(ranges.find((r) => r.field === (kind === 'sdmf' ? 'encprivkey offset' : 'block hash tree offset'))!);
  return { start, end };
}

describe.each(KINDS)('%s: corruption during transfers', (kind) => {
  it(
    'during a download, later blocks of N - k shares go bad: the download switches shares and returns the exact bytes',
    async () => {
      const rng = useSeed(`corrupt during download ${kind}`);
      for (let round = 0; round < ROUNDS; round++) {
        const size =
          kind === 'chk' ? 6 * 1024 * 1024 + 3 : kind === 'mdmf' ? 4 * 1024 * 1024 + 5 : 1024 * 1024 + 7;
        const data = pattern(size, rng.int(1, 1 << 30));
        const file = await store(client, kind, data);
        const shares = await shareFiles(file);
        const saved = await snapshot(shares);
        // The primaries (0..k-1) and one more: whichever k the reader starts with, it meets one.
        const victims = [...shares.slice(0, K), rng.pick(shares.slice(K))];
        const reader = grid.client({ secretByte: 5 });
        const errors: string[] = [];
        const parts: Uint8Array[] = [];
        let flipped = false;
        for await (const chunk of reader
          .open(file.readCap)
          .read({ onShareError: (e) => errors.push(e.message) })) {
          parts.push(chunk.slice());
          if (!flipped) {
            flipped = true;
            for (const v of victims) {
              const area = blockArea(kind, await fs.readFile(v.path));
              // In the last third of the share's blocks: most likely not fetched yet.
              for (let i = 0; i < 4; i++) {
                await flipBit(
                  v.path,
                  rng.int(area.start + Math.floor((2 * (area.end - area.start)) / 3), area.end),
                  rng.int(0, 8),
                );
              }
            }
          }
        }
        reader.close();
        expectBytesEqual(Buffer.concat(parts), data, `${kind} download with blocks going bad`);
        // Only MDMF reads late segments in later requests for sure (SDMF is one block; CHK reads ahead).
        for (const e of errors) expect(e).toMatch(/^share \d+/);
        // And a fresh read afterwards meets the corruption for sure, and still gets the file.
        const after: string[] = [];
        const again = grid.client({ secretByte: 6 });
        expectBytesEqual(
          await readAll(again.open(file.readCap), { onShareError: (e) => after.push(e.message) }),
          data,
          `${kind} read after`,
        );
        again.close();
        for (const e of after) expect(e).toMatch(/^share \d+/);
        // CHK reads start on the primary shares, all corrupt here: the read must have met them.
        if (kind === 'chk')
          expect(after.length, 'a read starting on corrupt primaries reports them').toBeGreaterThan(0);
        await saved.restore();
      }
    },
    TIMEOUT,
  );
});

describe('CHK: corruption during an upload', () => {
  it(
    'bits flipped in the shares being written land in the stored shares; the file still reads back exactly',
    async () => {
      const rng = useSeed('corrupt during upload');
      for (let round = 0; round < ROUNDS; round++) {
        const data = pattern(6 * 1024 * 1024 + 11, rng.int(1, 1 << 30));
        const liars = rng.sample(grid.servers, SERVERS - K);
        const flips: { server: number; offset: number; value: number }[] = [];
        let busy: Promise<void> | null = null;
        // Once a third is acknowledged, flip a bit in each liar's share-in-progress.
        const onProgress = (done: number, total: number) => {
          if (busy || done < total / 2) return;
          busy = (async () => {
            for (const s of liars) {
              const incoming = path.join(s.dir, 'storage', 'incoming');
              const names = await waitFor(
                async () => {
                  const n = await fs.readdir(incoming);
                  return n.length > 0 && n;
                },
                { what: `an upload in progress on server ${s.index}` },
              );
              const f = path.join(incoming, names[0]);
              const size = (await fs.stat(f)).size;
              // Past the container header and the share's own header (those come first and
              // have corruptors of their own), in the first half of what is there so far: writes
              // pipeline, so the last bytes of the file may have holes a late write fills.
              const offset = rng.int(12 + 0x24, Math.max(12 + 0x25, size >> 1));
              await flipBit(f, offset, rng.int(0, 8));
              const b = Buffer.alloc(1);
              const h = await fs.open(f, 'r');
              await h.read(b, 0, 1, offset);
              await h.close();
              flips.push({ server: s.index, offset, value: b[0] });
            }
          })();
        };
        const file = await store(client, 'chk', data, onProgress);
        await busy;
        expect(flips.length).toBe(SERVERS - K);
        // The flipped bits are in the stored shares: the servers kept what their disks gave them.
        const shares = await shareFiles(file);
        let landed = 0;
        for (const f of flips) {
          const held = shares.find((s) => s.path.startsWith(grid.servers[f.server].dir))!;
          if ((await fs.readFile(held.path))[f.offset] === f.value) landed++;
        }
        expect(landed, 'flipped bits that are still in the stored shares').toBeGreaterThan(0);
        expectBytesEqual(
          await readBack(client, file.readCap),
          data,
          'CHK read after an upload to corrupting servers',
        );
      }
    },
    TIMEOUT,
  );
});
