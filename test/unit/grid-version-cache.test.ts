import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedVersion, VERSION_TTL_MS } from '../../core/grid/version-cache.ts';
import type { StorageServerApi } from '../../core/protocol/storage-api.ts';
import { startGrid, type TestGrid } from './grid-harness.ts';

/** The real connection, counting its version calls. */
function counting(api: StorageServerApi): { api: StorageServerApi; calls: () => number } {
  let n = 0;
  const wrapped = new Proxy(api, {
    get(target, prop) {
      if (prop === 'getVersion') {
        return () => {
          n++;
          return target.getVersion();
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { api: wrapped, calls: () => n };
}

describe('servers’ version answers reused for a short while', () => {
  let grid: TestGrid;
  beforeAll(async () => {
    grid = await startGrid(1);
  });
  afterAll(() => grid.cleanup());

  it('asks the server once per VERSION_TTL_MS and connection, and gives its real answer', async () => {
    const { api, calls } = counting(grid.connections[0]);
    const [a, b] = await Promise.all([cachedVersion(api, 1_000), cachedVersion(api, 1_000)]);
    expect(calls()).toBe(1);
    expect(a).toBe(b);
    expect(a.availableSpace).toBe((await grid.connections[0].getVersion()).availableSpace);
    await cachedVersion(api, 1_000 + VERSION_TTL_MS - 1);
    expect(calls()).toBe(1);
    await cachedVersion(api, 1_000 + VERSION_TTL_MS);
    expect(calls()).toBe(2);
    // Another connection to the same server is asked afresh.
    const other = counting(await grid.servers[0].connect());
    await cachedVersion(other.api, 1_000 + VERSION_TTL_MS);
    expect(other.calls()).toBe(1);
  });

  it('does not keep a failed answer', async () => {
    const conn = await grid.servers[0].connect();
    const { api, calls } = counting(conn);
    conn.close();
    await expect(cachedVersion(api, 50_000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(cachedVersion(api, 50_000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(calls()).toBe(2);
  });
});
