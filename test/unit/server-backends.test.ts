/** The ShareBackend conformance suite (test/harness/backend-conformance.ts) on the disk and in-memory backends. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import { DiskBackend } from '../../server/backends/disk-backend.ts';
import { MemoryBackend } from '../../server/backends/memory-backend.ts';
import { backendConformance } from '../harness/backend-conformance.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

afterAll(() => cleanup());

backendConformance(
  'disk (Tahoe layout)',
  async () => {
    const dir = tempDir('cairn-backend-');
    const backend = new DiskBackend(dir);
    await backend.init();
    return { backend, close: () => backend.close(), dir };
  },
  {
    reopen: async (first) => {
      const backend = new DiskBackend((first as unknown as { dir: string }).dir);
      await backend.init();
      return { backend, close: () => backend.close() };
    },
  },
);

backendConformance('in-memory', async () => {
  const backend = new MemoryBackend();
  await backend.init();
  return { backend, close: () => backend.close() };
});

describe('disk backend: a new mutable share', () => {
  it('is absent or whole after a crash: a copy stopped before its rename is deleted at start', async () => {
    const dir = tempDir('cairn-backend-');
    const backend = new DiskBackend(dir);
    await backend.init();
    const si = asStorageIndex(new Uint8Array(randomBytes(16)));
    // What createMutable leaves when the process dies between its write and its rename.
    const leftover = path.join(dir, 'storage', 'incoming', `${base32Encode(si)}.2.0011223344556677.new`);
    await fs.writeFile(leftover, new Uint8Array(100));
    await backend.recoverUploads();
    expect(await fs.readdir(path.join(dir, 'storage', 'incoming'))).toEqual([]);
    expect(await backend.listShares('mutable', si)).toEqual([]);
    await backend.close();
  });
});

describe('disk backend: share files are private', () => {
  it('makes mutable share files 0600, whole or grown in place, as it makes immutable ones', async () => {
    const dir = tempDir('cairn-backend-');
    const backend = new DiskBackend(dir);
    await backend.init();
    const si = asStorageIndex(new Uint8Array(randomBytes(16)));
    await backend.createMutable(si, asShareNum(0), new Uint8Array(1000));
    const grown = await backend.openOrCreateMutable(si, asShareNum(1));
    await grown.write(0, new Uint8Array(1000));
    await grown.sync();
    await backend.close();
    const folder = path.join(dir, 'storage', 'shares', base32Encode(si).slice(0, 2), base32Encode(si));
    for (const sh of ['0', '1']) expect((await fs.stat(path.join(folder, sh))).mode & 0o777).toBe(0o600);
  });
});
