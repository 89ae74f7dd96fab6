/** The ShareBackend conformance suite (test/harness/backend-conformance.ts) on the disk and in-memory backends. */
import { afterAll } from 'vitest';
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
