/**
 * Where a client keeps the last server list it saw, so a grid whose relay is down can still
 * be used: the CLI backs this with a file in its home, the tab with IndexedDB. The bytes are
 * the relay's own signed list (core/protocol/grid.ts), so reading them back re-verifies every
 * signature and a tampered cache yields no servers, never wrong ones.
 */
export interface ServerListCache {
  /** The bytes saved for `gridUrl`, or null when there are none. */
  load(gridUrl: string): Promise<Uint8Array | null>;
  save(gridUrl: string, list: Uint8Array): Promise<void>;
}

/** A cache that lives as long as the process (tests; a client with nowhere to keep state). */
export function memoryServerListCache(): ServerListCache {
  const saved = new Map<string, Uint8Array>();
  return {
    async load(url) {
      return saved.get(url) ?? null;
    },
    async save(url, list) {
      saved.set(url, list.slice());
    },
  };
}
