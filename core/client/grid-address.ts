/**
 * A grid's address as one string: its URL and the grid managers whose certified servers
 * alone are to be used (`<url>#gm=<id>,<id>`). The web page hands the grid worker one
 * string per job; the fragment carries the managers, and everything that turns the URL into
 * an endpoint (relayEndpoint, gridOrigin) drops the fragment, so it never goes on the wire.
 */
import { type GridManagerId, parseGridManagerId } from '../protocol/grid-manager.ts';

export interface GridAddress {
  url: string;
  gridManagers: GridManagerId[];
}

export function formatGridAddress(addr: GridAddress): string {
  const url = addr.url.replace(/#.*$/, '');
  return addr.gridManagers.length === 0 ? url : `${url}#gm=${addr.gridManagers.join(',')}`;
}

/** Throws GridManagerError (BAD_GRID_MANAGER_KEY) for a manager id that is not one. */
export function parseGridAddress(text: string): GridAddress {
  const hash = text.indexOf('#');
  if (hash < 0) return { url: text, gridManagers: [] };
  const fragment = text.slice(hash + 1);
  const ids = fragment.startsWith('gm=')
    ? fragment
        .slice(3)
        .split(',')
        .filter((s) => s !== '')
    : [];
  return { url: text.slice(0, hash), gridManagers: ids.map(parseGridManagerId) };
}
