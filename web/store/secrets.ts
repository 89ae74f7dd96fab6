/**
 * This browser's own grid secrets, kept in its IndexedDB (never localStorage, never sent):
 * the lease secret that every lease on the grid is derived from, and the convergence
 * secret, which makes "same file, same cap" hold only for uploads from this browser
 * (so nobody else can confirm that this browser stored a given file). Created on first use.
 */
import { createStore, get, set } from 'idb-keyval';

export interface GridSecrets {
  client: Uint8Array;
  convergence: Uint8Array;
}

const db = () => createStore('cairn-secrets', 'secrets');
const KEY = 'grid-secrets-v1';

export async function gridSecrets(): Promise<GridSecrets> {
  const store = db();
  const existing = await get<GridSecrets>(KEY, store);
  if (existing?.client?.length === 32 && existing.convergence?.length === 32) return existing;
  const fresh = {
    client: crypto.getRandomValues(new Uint8Array(32)),
    convergence: crypto.getRandomValues(new Uint8Array(32)),
  };
  await set(KEY, fresh, store);
  return fresh;
}
