/**
 * Reaching one announced server: its own URL first, then the route through the relay (a
 * server behind NAT has only that). Runs in the tab, workers and Node alike.
 */
import type { Announcement } from '../protocol/announcement.ts';
import { type ConnectOptions, connectStorageServer, type StorageConnection } from '../protocol/client.ts';
import { serverRoutes } from '../protocol/grid.ts';
import { StorageError } from '../protocol/storage-api.ts';
import type { ServerId } from '../types.ts';

/** Connects by the first route that works; rejects with the last route's error. */
export async function connectToServer(
  server: Pick<Announcement, 'serverId' | 'url'>,
  relayUrl: string | null,
  opts: ConnectOptions = {},
): Promise<StorageConnection> {
  let last: unknown = new StorageError('UNAVAILABLE', 'the server has no route: no URL and no relay');
  for (const route of serverRoutes(server, relayUrl)) {
    try {
      return await connectStorageServer(route, server.serverId as ServerId, opts);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
