/**
 * The last listing seen of each folder, in IndexedDB, so a folder kept offline opens with
 * no network (its files are pinned copies). Listings hold caps, as History does: they stay
 * in this browser's own storage and are never sent.
 */
import { createStore, get, set } from 'idb-keyval';
import type { DirectoryListing } from '../workers/grid-worker.ts';

const db = () => createStore('cairn-folders', 'listings');

export async function cacheListing(listing: DirectoryListing): Promise<void> {
  await set(listing.cap, { listing, at: Date.now() }, db()).catch(() => {});
}

export async function cachedListing(cap: string): Promise<{ listing: DirectoryListing; at: number } | null> {
  return (await get<{ listing: DirectoryListing; at: number }>(cap, db()).catch(() => undefined)) ?? null;
}
