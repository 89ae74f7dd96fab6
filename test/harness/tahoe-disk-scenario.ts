/**
 * Storage operations that both Cairn's StorageServer and Tahoe-LAFS's own StorageServer run
 * (test/vectors/tahoe-storage.json, see test/vectors/README.md): a small language of
 * uploads, leases, read-test-writes and lease expiry with a fixed clock and fixed secrets,
 * so the share folders both leave can be compared byte for byte.
 *
 * `cairnOps` builds the folder Tahoe's code then reads ("Tahoe reads Cairn");
 * `onTahoeOps` is applied to the folder Tahoe's code wrote ("Cairn changes Tahoe's").
 * Every value is derived from a name (`nameBytes`), so the Python side needs only this
 * JSON (`scenarioJson()`), not this code.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type StorageIndex } from '../../core/types.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { StorageServer } from '../../server/storage-server.ts';

/** `length` bytes named `name`: SHA-256 of "cairn tahoe-disk <name> <i>" blocks, concatenated. */
export function nameBytes(name: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i * 32 < length; i++) {
    const h = createHash('sha256').update(`cairn tahoe-disk ${name} ${i}`).digest();
    out.set(h.subarray(0, Math.min(32, length - i * 32)), i * 32);
  }
  return out;
}

export const T0 = 1_750_000_000; // seconds since the epoch
const DAY = 24 * 3600;

export type Op =
  | { op: 'time'; t: number }
  /** allocate (secrets `lease`), write each share in the given chunks, close. Data: `data:<si>:<sh>`. */
  | { op: 'upload'; si: string; lease: string; shares: number[]; size: number; chunks: number[] }
  | { op: 'lease'; si: string; lease: string }
  | {
      op: 'rtw';
      si: string;
      we: string;
      lease: string;
      /** per share: tests [offset, length, specimen name or '' or 'data:<off>:<len>' of the current share], writes [offset, data name, length], new length */
      tw: Array<{
        sh: number;
        test: Array<[number, number, string]>;
        write: Array<[number, string, number]>;
        newLength: number | null;
      }>;
      rv: Array<[number, number]>;
    }
  /** Every lease that expires at or before now is dropped (Tahoe: the expirer's cancel_lease). */
  | { op: 'expire' };

/** The secrets of lease `name`. */
export function leaseSecrets(name: string) {
  return { renew: nameBytes(`renew ${name}`, 32), cancel: nameBytes(`cancel ${name}`, 32) };
}
export const si = (name: string): StorageIndex => asStorageIndex(nameBytes(`si ${name}`, 16));
export const writeEnablerOf = (name: string) => nameBytes(`we ${name}`, 32);
export const nodeIdOf = (name: string) => nameBytes(`node ${name}`, 20);

/** Operations for a fresh folder, whose result Tahoe's code reads back. */
export const cairnOps: Op[] = [
  { op: 'time', t: T0 },
  { op: 'upload', si: 'imm1', lease: 'A', shares: [0, 1, 2], size: 2000, chunks: [0, 700, 1500] },
  { op: 'time', t: T0 + 20 },
  { op: 'lease', si: 'imm1', lease: 'B' },
  { op: 'lease', si: 'imm1', lease: 'A' },
  { op: 'time', t: T0 + 30 },
  {
    op: 'rtw',
    si: 'mut1',
    we: 'mut1',
    lease: 'A',
    tw: [0, 1, 2].map((sh) => ({ sh, test: [[0, 1, '']], write: [[0, `v1 ${sh}`, 3000]], newLength: null })),
    rv: [[0, 41]],
  },
  { op: 'time', t: T0 + 40 },
  {
    op: 'rtw',
    si: 'mut1',
    we: 'mut1',
    lease: 'A',
    tw: [
      { sh: 0, test: [[0, 41, 'data:0:41']], write: [[2800, 'grow 0', 500]], newLength: null },
      { sh: 1, test: [[0, 41, 'data:0:41']], write: [[100, 'poke 1', 50]], newLength: null },
      { sh: 2, test: [], write: [], newLength: 0 },
    ],
    rv: [[0, 41]],
  },
  ...['C', 'D', 'E', 'F', 'G'].flatMap((l, i): Op[] => [
    { op: 'time', t: T0 + 50 + i },
    { op: 'lease', si: 'mut1', lease: l },
  ]),
  { op: 'time', t: T0 + 60 },
  {
    op: 'rtw',
    si: 'mut1',
    we: 'mut1',
    lease: 'A',
    tw: [{ sh: 0, test: [], write: [[4000, 'gap 0', 100]], newLength: null }],
    rv: [],
  },
  { op: 'time', t: T0 + 70 },
  {
    op: 'rtw',
    si: 'mut1',
    we: 'mut1',
    lease: 'H',
    tw: [
      { sh: 0, test: [], write: [], newLength: 1000 },
      { sh: 1, test: [], write: [[5000, 'far 1', 30]], newLength: null },
    ],
    rv: [[990, 20]],
  },
  { op: 'time', t: T0 + 80 },
  {
    op: 'rtw',
    si: 'mut1',
    we: 'mut1',
    lease: 'C',
    tw: [{ sh: 0, test: [], write: [[1500, 'past the cut 0', 10]], newLength: null }],
    rv: [[0, 2000]],
  },
  // A test that fails: nothing changes, the reads still come back.
  {
    op: 'rtw',
    si: 'mut1',
    we: 'mut1',
    lease: 'I',
    tw: [{ sh: 0, test: [[0, 41, 'not the checkstring']], write: [[0, 'lost', 41]], newLength: null }],
    rv: [[0, 10]],
  },
  // 31 days after T0+55: leases taken before then (and not renewed since) run out.
  { op: 'time', t: T0 + 55 + 31 * DAY },
  { op: 'lease', si: 'imm1', lease: 'B' },
  { op: 'expire' },
  { op: 'time', t: T0 + 56 + 31 * DAY },
  { op: 'lease', si: 'mut1', lease: 'J' },
];

/**
 * Operations on the folder Tahoe's code wrote (Tahoe's part is in the Python generator:
 * immutable 'timm' (v2 container, one share written short of its allocation), 'timm1'
 * (a v1 container), mutable 'tmut' (v2, with a cancelled lease's blank record) and 'tmut1'
 * (v1)). Applied by Cairn here and by Tahoe there, then compared.
 */
export const onTahoeOps: Op[] = [
  { op: 'time', t: T0 + 5 * DAY },
  { op: 'lease', si: 'timm', lease: 'K' },
  { op: 'lease', si: 'timm', lease: 'B' },
  { op: 'lease', si: 'timm1', lease: 'A' },
  { op: 'lease', si: 'timm1', lease: 'K' },
  { op: 'lease', si: 'tmut', lease: 'K' },
  {
    op: 'rtw',
    si: 'tmut',
    we: 'tmut',
    lease: 'A',
    tw: [
      { sh: 0, test: [[0, 41, 'data:0:41']], write: [[6000, 'beyond 0', 200]], newLength: null },
      { sh: 3, test: [[0, 1, '']], write: [[0, 'new 3', 600]], newLength: null },
    ],
    rv: [[0, 41]],
  },
  {
    op: 'rtw',
    si: 'tmut1',
    we: 'tmut1',
    lease: 'A',
    tw: [
      {
        sh: 0,
        test: [],
        write: [
          [10, 'v1 poke', 20],
          [900, 'v1 grow', 100],
        ],
        newLength: null,
      },
    ],
    rv: [[0, 2000]],
  },
  { op: 'lease', si: 'tmut1', lease: 'K' },
];

/** Everything the Python side needs: the operations with every name resolved to bytes (hex). */
export function scenarioJson(): unknown {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const names = new Set<string>();
  const leases = new Set<string>();
  const datas: Record<string, string> = {};
  for (const o of [...cairnOps, ...onTahoeOps]) {
    if ('si' in o) names.add(o.si);
    if ('lease' in o) leases.add(o.lease);
    if (o.op === 'upload')
      for (const sh of o.shares) datas[`data:${o.si}:${sh}`] = hex(uploadData(o.si, sh, o.size));
    if (o.op === 'rtw') {
      for (const t of o.tw) {
        for (const [, , spec] of t.test)
          if (spec && !spec.startsWith('data:')) datas[spec] = hex(nameBytes(spec, 41));
        for (const [, name, len] of t.write) datas[name] = hex(nameBytes(name, len));
      }
    }
  }
  for (const n of ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K']) leases.add(n);
  return {
    T0,
    sis: Object.fromEntries([...names, 'timm', 'timm1', 'tmut', 'tmut1'].map((n) => [n, hex(si(n))])),
    writeEnablers: Object.fromEntries(['mut1', 'tmut', 'tmut1'].map((n) => [n, hex(writeEnablerOf(n))])),
    leases: Object.fromEntries(
      [...leases]
        .sort()
        .map((n) => [n, { renew: hex(leaseSecrets(n).renew), cancel: hex(leaseSecrets(n).cancel) }]),
    ),
    nodeIds: { cairn: hex(nodeIdOf('cairn')), tahoe: hex(nodeIdOf('tahoe')) },
    datas,
    cairnOps,
    onTahoeOps,
  };
}

export function uploadData(siName: string, sh: number, size: number): Uint8Array {
  return nameBytes(`data ${siName} ${sh}`, size);
}

export interface OpResult {
  /** For 'rtw': success and the reads, hex, by share number. */
  rtw?: { success: boolean; data: Record<string, string[]> };
}

/** Runs `ops` on a StorageServer over DiskBackend(dir) with `nodeId`; returns what each rtw answered. */
export async function runOnCairn(dir: string, ops: Op[], nodeId: Uint8Array): Promise<OpResult[]> {
  let t = T0;
  const server = new StorageServer({ backend: new DiskBackend(dir), nodeId, now: () => t * 1000 });
  await server.start();
  const session = server.openSession();
  const out: OpResult[] = [];
  try {
    for (const o of ops) {
      if (o.op === 'time') {
        t = o.t;
      } else if (o.op === 'upload') {
        const upload = nameBytes(`upload ${o.si}`, 20);
        const s = { si: si(o.si), ...leaseSecrets(o.lease), upload };
        await server.allocate({ ...s, shares: o.shares.map(asShareNum), size: o.size }, session);
        for (const sh of o.shares) {
          const data = uploadData(o.si, sh, o.size);
          const bounds = [...o.chunks, o.size];
          for (let i = 0; i < o.chunks.length; i++) {
            const chunk = data.subarray(bounds[i], bounds[i + 1]);
            await server.write(
              { si: s.si, sh: asShareNum(sh), upload, offset: bounds[i], data: chunk },
              session,
            );
          }
          await server.close({ si: s.si, sh: asShareNum(sh), upload }, session);
        }
      } else if (o.op === 'lease') {
        await server.addLease({ si: si(o.si), ...leaseSecrets(o.lease) });
      } else if (o.op === 'expire') {
        await server.expireLeases();
      } else {
        const index = si(o.si);
        const current = async (sh: number, off: number, len: number) =>
          (await server.listMutable(index)).includes(asShareNum(sh))
            ? server.readMutable({ si: index, sh: asShareNum(sh), offset: off, length: len })
            : new Uint8Array(0);
        const testWrite = new Map();
        for (const tw of o.tw) {
          const test = [];
          for (const [offset, size, spec] of tw.test) {
            const m = /^data:(\d+):(\d+)$/.exec(spec);
            const specimen = m
              ? await current(tw.sh, Number(m[1]), Number(m[2]))
              : spec === ''
                ? new Uint8Array(0)
                : nameBytes(spec, 41);
            test.push({ offset, size, specimen });
          }
          const write = tw.write.map(([offset, name, len]) => ({ offset, data: nameBytes(name, len) }));
          testWrite.set(asShareNum(tw.sh), { test, write, newLength: tw.newLength });
        }
        const r = await server.readTestWrite({
          si: index,
          writeEnabler: writeEnablerOf(o.we),
          ...leaseSecrets(o.lease),
          testWrite,
          readVector: o.rv.map(([offset, size]) => ({ offset, size })),
        });
        const data: Record<string, string[]> = {};
        for (const [sh, reads] of [...r.data].sort((a, b) => a[0] - b[0])) {
          data[String(sh)] = reads.map((b) => Buffer.from(b).toString('hex'));
        }
        out.push({ rtw: { success: r.success, data } });
      }
    }
  } finally {
    await server.stop();
  }
  return out;
}

/** Every file under `root` (relative path with '/' → bytes), sorted by path. */
export async function readTree(root: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  async function walk(rel: string): Promise<void> {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else out.set(r, new Uint8Array(await fs.readFile(path.join(root, r))));
    }
  }
  await walk('');
  return out;
}

/** Writes `files` (relative path → bytes) under `root`. */
export async function writeTree(root: string, files: Iterable<[string, Uint8Array]>): Promise<void> {
  for (const [rel, bytes] of files) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), bytes);
  }
}

/** Tahoe's folder of share `sh` of storage index `index`, relative to the shares folder. */
export function shareRel(index: StorageIndex, sh: number): string {
  const b = base32Encode(index);
  return `${b.slice(0, 2)}/${b}/${sh}`;
}
