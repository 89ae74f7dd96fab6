/**
 * A vitest setup file: a test file that leaves a file handle (fs.promises.open) open fails,
 * naming the test that opened it, the path and where. Left to the collector, such a handle is
 * closed at some later GC with only Node's "Closing file descriptor N on garbage collection"
 * in the log, and in a server the same leak runs the process out of descriptors.
 */
import fs from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { afterAll, expect } from 'vitest';

const open = new Map<fs.FileHandle, string>();
const openFile = fs.open;

// Patched on the default export; syncBuiltinESMExports carries it to `import { open }` too.
fs.open = async (...args: Parameters<typeof fs.open>) => {
  const handle = await openFile(...args);
  const where = new Error().stack?.split('\n').slice(2, 7).join('\n') ?? '';
  open.set(handle, `[${expect.getState().currentTestName ?? 'outside a test'}] ${String(args[0])}\n${where}`);
  const close = handle.close.bind(handle);
  handle.close = () => {
    open.delete(handle);
    return close();
  };
  return handle;
};
syncBuiltinESMExports();

afterAll(async () => {
  // Closes already under way end first.
  await new Promise((r) => setTimeout(r, 100));
  const left = [...open].filter(([h]) => h.fd >= 0).map(([, where]) => where);
  open.clear();
  if (left.length) throw new Error(`${left.length} file handle(s) left open:\n${left.join('\n')}`);
});
