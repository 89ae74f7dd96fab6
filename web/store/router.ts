/**
 * The hash router: the route is a signal parsed from `location.hash`. Caps live only in
 * the fragment (browsers never send it), so parsing it here keeps them in memory.
 */
import { type Accessor, createSignal, onCleanup } from 'solid-js';

export type Route =
  | { name: 'home' }
  | { name: 'file'; cap: string }
  /** A folder, with the names walked from `cap` (breadcrumbs follow them back). */
  | { name: 'dir'; cap: string; path?: string[] }
  | { name: 'files' }
  | { name: 'settings' }
  | { name: 'grid' }
  | { name: 'history' }
  /** An invitation to a grid (`cairn invite`): its token, not secret. */
  | { name: 'join'; token: string }
  | { name: 'not-found' };

/** Pure: a `location.hash` value (with or without the leading `#`) to a Route. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/^\/+/, '');
  if (path === '' || path === 'upload') return { name: 'home' };
  const slash = path.indexOf('/');
  const head = slash < 0 ? path : path.slice(0, slash);
  const rest = slash < 0 ? '' : path.slice(slash + 1);
  if (head === 'dir' && rest !== '') {
    // #/dir/<cap>[/<name>/<name>…]: caps hold no '/', names are percent-encoded.
    const [capPart, ...names] = rest.split('/');
    const decode = (x: string) => {
      try {
        return decodeURIComponent(x);
      } catch {
        return x;
      }
    };
    const path = names.filter((n) => n !== '').map(decode);
    return path.length
      ? { name: 'dir', cap: decode(capPart).trim(), path }
      : { name: 'dir', cap: decode(capPart).trim() };
  }
  if ((head === 'file' || head === 'dir') && rest !== '') {
    // Some chat apps percent-encode the colons of a shared link; undo that.
    let cap = rest;
    try {
      cap = decodeURIComponent(rest);
    } catch {
      // not valid percent-encoding: keep it as typed, the cap parser will say what is wrong
    }
    return { name: head, cap: cap.trim() };
  }
  if (head === 'join' && rest !== '' && !rest.includes('/')) return { name: 'join', token: rest.trim() };
  if (rest === '' && (head === 'settings' || head === 'grid' || head === 'history' || head === 'files'))
    return { name: head };
  return { name: 'not-found' };
}

/** The fragment for a route; `fileHref` and friends build links from it. */
export function routeHash(route: Route): string {
  switch (route.name) {
    case 'home':
      return '#/';
    case 'file':
      return `#/${route.name}/${route.cap}`;
    case 'dir':
      return `#/dir/${route.cap}${(route.path ?? []).map((n) => `/${encodeURIComponent(n)}`).join('')}`;
    case 'join':
      return `#/join/${route.token}`;
    case 'not-found':
      return '#/';
    default:
      return `#/${route.name}`;
  }
}

/** The shareable link of a folder on this origin: `<origin>/#/dir/<cap>`. */
export function dirLink(origin: string, pathname: string, cap: string): string {
  return `${origin}${pathname}${routeHash({ name: 'dir', cap })}`;
}

/** The shareable link for a cap on this origin: `<origin>/#/file/<cap>`. */
export function capLink(origin: string, pathname: string, cap: string): string {
  return `${origin}${pathname}${routeHash({ name: 'file', cap })}`;
}

export interface Router {
  route: Accessor<Route>;
  navigate(route: Route): void;
}

/** Follows `hashchange` for the lifetime of the calling owner. */
export function createRouter(): Router {
  const [route, setRoute] = createSignal<Route>(parseRoute(location.hash), {
    equals: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  });
  const onChange = () => setRoute(parseRoute(location.hash));
  window.addEventListener('hashchange', onChange);
  onCleanup(() => window.removeEventListener('hashchange', onChange));
  return {
    route,
    navigate(next) {
      location.hash = routeHash(next);
    },
  };
}
