/**
 * Cairn's share folders are Tahoe-LAFS's, both ways, checked against what Tahoe's own
 * storage code did (test/vectors/tahoe-storage.json; how it was made: test/vectors/README.md):
 *  - Tahoe reads Cairn: the scenario run on a Cairn StorageServer today must leave exactly
 *    the bytes Tahoe's code read back, which are also exactly what Tahoe's StorageServer
 *    left running the same operations; Tahoe saw every lease Cairn wrote and matched its
 *    secrets.
 *  - Cairn reads Tahoe: a folder Tahoe's StorageServer wrote (v2 and v1 containers of both
 *    kinds, a cancelled lease's blank record, a share closed short) reads the same through
 *    Cairn as through Tahoe, and the same operations applied by Cairn and by Tahoe leave the
 *    same bytes.
 *  - End to end: five Cairn servers on folders Tahoe's code filled serve two CHK files and an
 *    SDMF and an MDMF file to Cairn's client, which can then update the MDMF file in place.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grid, type MutableFileNode, memoryServerListCache, readAll } from '../../core/client/index.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { base32Decode } from '../../core/primitives/base32.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { fetchGridServers } from '../../core/protocol/grid.ts';
import { asShareNum, asStorageIndex, type StorageIndex } from '../../core/types.ts';
import {
  containerKind,
  decodeImmutableLeases,
  decodeMutableHeader,
  immutableLayout,
  type Lease,
  MUTABLE_DATA_OFFSET,
} from '../../server/containers.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { slotState } from '../../server/mutable-plan.ts';
import { StorageServer } from '../../server/storage-server.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, startTestRelay, startTestServer, tempDir } from '../harness/grid.ts';
import {
  cairnOps,
  leaseSecrets,
  nameBytes,
  nodeIdOf,
  onTahoeOps,
  readTree,
  runOnCairn,
  T0,
  writeTree,
} from '../harness/tahoe-disk-scenario.ts';
import { waitFor } from '../harness/wait.ts';

interface TahoeLease {
  owner: number;
  renewStored: string;
  cancelStored: string;
  expires: number;
  nodeId: string | null;
  renewableBy: string[];
  cancelableBy: string[];
}
interface TahoeRead {
  kind: 'immutable' | 'mutable' | null;
  containerVersion: number;
  length: number;
  dataSha256: string;
  leases: TahoeLease[];
}
type Files = Record<string, string>;
type Results = Array<{ rtw?: { success: boolean; data: Record<string, string[]> } }>;
interface Fixture {
  tahoeCommit: string;
  cairnWritten: {
    nodeId: string;
    files: Files;
    tahoeReads: Record<string, TahoeRead>;
    cairnResults: Results;
    tahoeSameOps: { results: Results; sha256: Record<string, string> };
  };
  tahoeWritten: {
    nodeId: string;
    files: Files;
    tahoeReads: Record<string, TahoeRead>;
    after: { results: Results; files: Files; tahoeReads: Record<string, TahoeRead> };
  };
  e2e: {
    servers: Array<{
      secretKeyB32: string;
      serverId: string;
      leaseSeed: string;
      files: Files;
      tahoeReads: Record<string, TahoeRead>;
    }>;
    chks: Array<{ name: string; cap: string; size: number; shareLayout: number; containerVersion: number }>;
    mutables: Array<{ name: string; format: string; cap: string; size: number; seqnum: number }>;
  };
}

const fixture = JSON.parse(
  readFileSync(new URL('../vectors/tahoe-storage.json', import.meta.url), 'utf8'),
) as Fixture;

const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const decode = (files: Files) => new Map(Object.entries(files).map(([k, v]) => [k, fromB64(v)]));
const SHARES = path.join('storage', 'shares');

afterAll(() => cleanup());

/** The storage index and share number of a path relative to the shares folder. */
function parseRel(rel: string): { si: StorageIndex; sh: number } {
  const [, b, sh] = rel.split('/');
  return { si: asStorageIndex(base32Decode(b)), sh: Number(sh) };
}

/** The leases Cairn sees in a container, in Tahoe's get_leases order, as Tahoe's JSON has them. */
function cairnLeases(file: Uint8Array): Array<Omit<TahoeLease, 'renewableBy' | 'cancelableBy'>> {
  let leases: Lease[];
  if (containerKind(file) === 'mutable') {
    const h = decodeMutableHeader(file.subarray(0, MUTABLE_DATA_OFFSET));
    const s = slotState(
      file.subarray(0, MUTABLE_DATA_OFFSET),
      file.subarray(h.extraLeaseOffset),
      file.length,
    );
    leases = s.leases.filter((l): l is Lease => l !== null);
  } else {
    const layout = immutableLayout(file, file.length);
    leases = decodeImmutableLeases(file.subarray(layout.leaseOffset));
  }
  return leases.map((l) => ({
    owner: l.owner,
    renewStored: hex(l.renewHash),
    cancelStored: hex(l.cancelHash),
    expires: l.expires,
    nodeId: l.nodeId ? hex(l.nodeId) : null,
  }));
}

/**
 * Every way Cairn sees the shares under `dir` that Tahoe's reads describe: kind, container
 * version, data (through the StorageServer's reads), leases. Returns the mismatches.
 */
async function compareWithTahoe(
  dir: string,
  nodeId: Uint8Array,
  reads: Record<string, TahoeRead>,
  storageDir = path.join(dir, 'storage'),
): Promise<string[]> {
  const bad: string[] = [];
  const backend = new DiskBackend(dir, { storageDir });
  const server = new StorageServer({ backend, nodeId, now: () => T0 * 1000 });
  await server.start();
  try {
    const files = await readTree(path.join(storageDir, 'shares'));
    if ([...files.keys()].join() !== Object.keys(reads).sort().join()) bad.push('the share files differ');
    for (const [rel, t] of Object.entries(reads)) {
      const file = files.get(rel);
      if (!file) continue;
      const { si, sh } = parseRel(rel);
      const kind = containerKind(file);
      if (kind !== t.kind) {
        bad.push(`${rel}: kind ${kind}, Tahoe's ${t.kind}`);
        continue;
      }
      const version =
        kind === 'mutable' ? decodeMutableHeader(file).version : immutableLayout(file, file.length).version;
      if (version !== t.containerVersion)
        bad.push(`${rel}: container v${version}, Tahoe's v${t.containerVersion}`);
      const list = kind === 'mutable' ? await server.listMutable(si) : await server.listImmutable(si);
      if (!list.includes(asShareNum(sh))) bad.push(`${rel}: not listed`);
      const args = { si, sh: asShareNum(sh), offset: 0, length: 1 << 22 };
      const data = kind === 'mutable' ? await server.readMutable(args) : await server.readImmutable(args);
      if (sha256(data) !== t.dataSha256)
        bad.push(`${rel}: data differs (${data.length} vs ${t.length} bytes)`);
      if (data.length !== t.length) bad.push(`${rel}: length ${data.length}, Tahoe's ${t.length}`);
      const mine = cairnLeases(file);
      const theirs = t.leases.map((l) => ({
        owner: l.owner,
        renewStored: l.renewStored,
        cancelStored: l.cancelStored,
        expires: l.expires,
        nodeId: kind === 'mutable' ? l.nodeId : null,
      }));
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
        bad.push(`${rel}: leases differ\n  cairn ${JSON.stringify(mine)}\n  tahoe ${JSON.stringify(theirs)}`);
      }
    }
  } finally {
    await server.stop();
  }
  return bad;
}

describe('Tahoe reads Cairn', () => {
  const fx = fixture.cairnWritten;

  it("the scenario leaves exactly the bytes Tahoe's code read, which are what Tahoe's own server leaves", async () => {
    const dir = tempDir('cairn-tahoe-');
    const results = await runOnCairn(dir, cairnOps, nodeIdOf('cairn'));
    expect(hex(nodeIdOf('cairn'))).toBe(fx.nodeId);
    expect(results).toEqual(fx.cairnResults);
    expect(results).toEqual(fx.tahoeSameOps.results);
    const files = await readTree(path.join(dir, SHARES));
    const expected = decode(fx.files);
    expect([...files.keys()]).toEqual([...expected.keys()]);
    for (const [rel, bytes] of files) {
      expectBytesEqual(bytes, expected.get(rel) as Uint8Array, rel);
      expect(sha256(bytes), `${rel}: Tahoe running the same operations`).toBe(fx.tahoeSameOps.sha256[rel]);
    }
    // The scenario covers what it should: both kinds, extra leases, a cut, a blank record.
    const kinds = Object.values(fx.tahoeReads).map((r) => r.kind);
    expect(kinds).toContain('immutable');
    expect(kinds).toContain('mutable');
    const shrunk = [...files.values()].some(
      (f) =>
        containerKind(f) === 'mutable' &&
        decodeMutableHeader(f).extraLeaseOffset > MUTABLE_DATA_OFFSET + decodeMutableHeader(f).dataLength,
    );
    expect(shrunk).toBe(true);
  });

  it("Tahoe's reads agree with Cairn's, and Tahoe matched every lease's secrets", async () => {
    const dir = tempDir('cairn-tahoe-');
    await writeTree(path.join(dir, SHARES), decode(fx.files));
    expect(await compareWithTahoe(dir, nodeIdOf('cairn'), fx.tahoeReads)).toEqual([]);
    for (const [rel, r] of Object.entries(fx.tahoeReads)) {
      expect(r.leases.length, rel).toBeGreaterThan(0);
      for (const l of r.leases) {
        // Tahoe's server would renew this lease for the client holding its secret.
        expect(l.renewableBy, rel).toHaveLength(1);
        expect(l.cancelableBy, rel).toEqual(l.renewableBy);
        expect(l.owner, rel).toBe(r.kind === 'mutable' ? 1 : l.owner);
      }
    }
  });

  it('the comparison catches a broken field (data length, a lease, the magic)', async () => {
    const files = decode(fx.files);
    const [rel, mutable] = [...files].find(([, f]) => containerKind(f) === 'mutable') as [string, Uint8Array];
    const breakages: Array<[string, (f: Uint8Array) => void]> = [
      [
        'data length',
        (f) => new DataView(f.buffer).setBigUint64(84, BigInt(decodeMutableHeader(f).dataLength - 1)),
      ],
      ['a lease slot', (f) => f.fill(0, 100, 108)],
      ['the magic', (f) => f.fill(0x41, 0, 1)],
    ];
    for (const [what, breakIt] of breakages) {
      const dir = tempDir('cairn-tahoe-broken-');
      const broken = mutable.slice();
      breakIt(broken);
      await writeTree(
        path.join(dir, SHARES),
        [...files].map(([r, f]) => [r, r === rel ? broken : f]),
      );
      expect((await compareWithTahoe(dir, nodeIdOf('cairn'), fx.tahoeReads)).length, what).toBeGreaterThan(0);
    }
  });
});

describe('Cairn reads Tahoe', () => {
  const fx = fixture.tahoeWritten;
  const nodeId = () => new Uint8Array(Buffer.from(fx.nodeId, 'hex'));

  it("serves every share Tahoe's server wrote as Tahoe does: v2 and v1 containers, blank lease records", async () => {
    const dir = tempDir('tahoe-cairn-');
    await writeTree(path.join(dir, SHARES), decode(fx.files));
    expect(await compareWithTahoe(dir, nodeId(), fx.tahoeReads)).toEqual([]);
    const versions = Object.values(fx.tahoeReads).map((r) => `${r.kind} v${r.containerVersion}`);
    for (const v of ['immutable v2', 'immutable v1', 'mutable v2', 'mutable v1'])
      expect(versions).toContain(v);
    // One of Tahoe's mutable slots holds the blank record of a cancelled lease: an empty slot.
    const holed = [...decode(fx.files)].filter(([, f]) => {
      if (containerKind(f) !== 'mutable') return false;
      const h = decodeMutableHeader(f);
      return slotState(
        f.subarray(0, MUTABLE_DATA_OFFSET),
        f.subarray(h.extraLeaseOffset),
        f.length,
      ).leases.includes(null);
    });
    expect(holed.length).toBeGreaterThan(0);
  });

  it('leases and read-test-writes by Cairn leave the bytes Tahoe leaves for the same operations', async () => {
    const dir = tempDir('tahoe-cairn-');
    await writeTree(path.join(dir, SHARES), decode(fx.files));
    const results = await runOnCairn(dir, onTahoeOps, nodeId());
    expect(results).toEqual(fx.after.results);
    expect(results.every((r) => r.rtw?.success)).toBe(true);
    const files = await readTree(path.join(dir, SHARES));
    const expected = decode(fx.after.files);
    expect([...files.keys()]).toEqual([...expected.keys()]);
    for (const [rel, bytes] of files) expectBytesEqual(bytes, expected.get(rel) as Uint8Array, rel);
    expect(await compareWithTahoe(dir, nodeId(), fx.after.tahoeReads)).toEqual([]);
    // A v1 container stays v1, its new lease's secrets in clear as Tahoe keeps them there.
    const v1 = Object.entries(fx.after.tahoeReads).filter(([, r]) => r.containerVersion === 1);
    expect(v1.length).toBe(2);
    const k = leaseSecrets('K');
    for (const [rel, r] of v1) {
      expect(
        r.leases.map((l) => l.renewStored),
        rel,
      ).toContain(hex(k.renew));
    }
  });
});

describe("a Tahoe node's storage folder as the server folder (cairn server --dir NODEDIR/storage)", () => {
  it('serves the shares in place and changes them there', async () => {
    const node = tempDir('tahoe-node-');
    const storage = path.join(node, 'storage');
    await writeTree(path.join(storage, 'shares'), decode(fixture.tahoeWritten.files));
    await fs.mkdir(path.join(storage, 'corruption-advisories'));
    await fs.writeFile(path.join(storage, 'bucket_counter.state'), '{}');
    const server = await startTestServer({ dir: storage });
    const si = asStorageIndex(base32Decode(Object.keys(fixture.tahoeWritten.files)[0].split('/')[1]));
    try {
      for (const [rel, t] of Object.entries(fixture.tahoeWritten.tahoeReads)) {
        const { si: index, sh } = parseRel(rel);
        const args = { si: index, sh: asShareNum(sh), offset: 0, length: 1 << 22 };
        const data =
          t.kind === 'mutable'
            ? await server.server.readMutable(args)
            : await server.server.readImmutable(args);
        expect(sha256(data), rel).toBe(t.dataSha256);
      }
      await server.server.addLease({ si, ...leaseSecrets('K') });
    } finally {
      await server.close();
    }
    // Nothing went to a storage/ of its own; the lease landed in Tahoe's share.
    await expect(fs.access(path.join(storage, 'storage'))).rejects.toThrow();
    const after = await readTree(path.join(storage, 'shares'));
    const rel = Object.keys(fixture.tahoeWritten.files)[0];
    expect(sha256(after.get(rel) as Uint8Array)).not.toBe(sha256(fromB64(fixture.tahoeWritten.files[rel])));
    // Read as Tahoe's reads say, but for the new lease on each share of that storage index.
    const diffs = await compareWithTahoe(
      storage,
      new Uint8Array(20),
      fixture.tahoeWritten.tahoeReads,
      storage,
    );
    const ofSi = Object.keys(fixture.tahoeWritten.files).filter((r) => r.startsWith(rel.slice(0, 30)));
    expect(diffs.map((d) => d.split('\n')[0])).toEqual(ofSi.map((r) => `${r}: leases differ`));
  });
});

describe('end to end through folders Tahoe filled', () => {
  let relay: Awaited<ReturnType<typeof startTestRelay>>;
  let servers: Array<Awaited<ReturnType<typeof startTestServer>>>;
  let codec: Awaited<ReturnType<typeof loadCodec>>;

  beforeAll(async () => {
    codec = await loadCodec();
    relay = await startTestRelay();
    servers = [];
    for (const [i, s] of fixture.e2e.servers.entries()) {
      const dir = tempDir(`tahoe-e2e-${i}-`);
      await fs.mkdir(path.join(dir, 'private'), { recursive: true });
      await fs.writeFile(path.join(dir, 'private', 'server.key'), `${s.secretKeyB32}\n`, { mode: 0o600 });
      await writeTree(path.join(dir, SHARES), decode(s.files));
      const node = await startTestServer({ dir, relayUrl: relay.url, nickname: `tahoe-${i}` });
      expect(node.serverId).toBe(s.serverId);
      servers.push(node);
    }
    await waitFor(async () => (await fetchGridServers(relay.url)).length === servers.length, {
      what: 'the relay to list the servers',
    });
  }, 60_000);

  afterAll(async () => {
    for (const s of servers ?? []) await s.close();
    await relay?.close();
  });

  const client = () =>
    new Grid({
      url: relay.url,
      cache: memoryServerListCache(),
      tools: async () => ({ backend: nodeCrypto, codec }),
      secrets: async () => ({ lease: new Uint8Array(32).fill(5), convergence: new Uint8Array(32) }),
    });

  it('serves every share as Tahoe read it, and downloads the CHK files from v2 and v1 containers', async () => {
    for (const [i, s] of fixture.e2e.servers.entries()) {
      await servers[i].close();
      expect(
        await compareWithTahoe(servers[i].dir, new Uint8Array(Buffer.from(s.leaseSeed, 'hex')), s.tahoeReads),
      ).toEqual([]);
      servers[i] = await startTestServer({
        dir: servers[i].dir,
        relayUrl: relay.url,
        nickname: `tahoe-${i}`,
      });
    }
    await waitFor(async () => (await fetchGridServers(relay.url)).length === servers.length, {
      what: 'the relay to list the servers again',
    });
    const grid = client();
    try {
      // Share layout / container version. Layout v2 (Tahoe's for shares of 4 GiB or more, made
      // small here) is served byte for byte above; core's reader expects v1 for a file this small.
      expect(fixture.e2e.chks.map((c) => `${c.shareLayout}/${c.containerVersion}`)).toEqual([
        '1/2',
        '1/1',
        '2/2',
      ]);
      for (const c of fixture.e2e.chks.filter((x) => x.shareLayout === 1)) {
        expectBytesEqual(await readAll(grid.open(c.cap)), nameBytes(`plaintext ${c.name}`, c.size), c.name);
      }
    } finally {
      grid.close();
    }
  }, 60_000);

  it('reads the SDMF and MDMF files at the version Tahoe published last, and updates the MDMF one', async () => {
    const grid = client();
    try {
      for (const m of fixture.e2e.mutables) {
        const want = nameBytes(`plaintext ${m.name} v${m.seqnum}`, m.size);
        expectBytesEqual(await readAll(grid.open(m.cap)), want, m.name);
      }
      // The write enablers Tahoe's server stored are the ones Cairn's client derives for
      // these servers, so the file can be changed in place.
      const mdmf = fixture.e2e.mutables.find((m) => m.format === 'mdmf');
      if (!mdmf) throw new Error('no MDMF file in the fixture');
      const node = grid.open(mdmf.cap) as MutableFileNode;
      const next = nameBytes('plaintext changed by cairn', 3000);
      await node.overwrite(next);
      expectBytesEqual(await readAll(client().open(mdmf.cap)), next, 'after the update');
    } finally {
      grid.close();
    }
  }, 60_000);
});
