/**
 * The hash router: the route is a signal parsed from `location.hash`. Caps live only in
 * the fragment (browsers never send it), so parsing it here keeps them in memory.
 *
 * A file link is `#/file/<cap>`, optionally followed by what a recipient needs to know about
 * the file and that no server may learn, in the fragment too:
 *
 *   #/file/URI:CHK:…:3:10:5000?name=holiday%20photo.jpg&type=image%2Fjpeg&grid=https%3A%2F%2Frelay.example
 *
 * `name`, `type` and `grid` are percent-encoded (encodeURIComponent), each optional, in any
 * order; unknown parameters are ignored, so later versions can add some. The cap itself is
 * unchanged, so a bare `#/file/<cap>` (every link made before names were carried) still
 * works, and a cap never contains `?`. A value that does not pass its check below is
 * dropped, not trusted: a name loses control and direction-changing characters and path
 * separators, a type must look like a media type, a grid must be an http(s)/ws(s) URL.
 */
import { type Accessor, createSignal, onCleanup } from 'solid-js';

import { cleanFileName, cleanGridUrl, cleanMediaType, formatHint, type LinkHint, parseHint } from './link.ts';

export { cleanFileName, cleanGridUrl, cleanMediaType, formatHint, type LinkHint, parseHint };

export type Route =
  | { name: 'home' }
  | { name: 'file'; cap: string; hint: LinkHint }
  /** A folder, with the names walked from `cap` (breadcrumbs follow them back). */
  | { name: 'dir'; cap: string; path?: string[] }
  | { name: 'files' }
  | { name: 'settings' }
  | { name: 'grid' }
  | { name: 'history' }
  /** An invitation to a grid (`cairn invite`): its token, not secret. */
  | { name: 'join'; token: string }
  | { name: 'not-found' };

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // not valid percent-encoding: keep it as typed, the cap parser will say what is wrong
  }
};

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
    // The cap ends at the first `?`. Some chat apps percent-encode a shared link's colons
    // (and then its `?` as well): undo that once.
    let capPart = rest;
    let query = '';
    const q = rest.indexOf('?');
    if (q >= 0) {
      capPart = rest.slice(0, q);
      query = rest.slice(q + 1);
    } else {
      const whole = decode(rest);
      const dq = whole.indexOf('?');
      if (dq >= 0) {
        capPart = whole.slice(0, dq);
        query = whole.slice(dq + 1);
      }
    }
    const cap = decode(capPart).trim();
    if (head === 'dir') return { name: 'dir', cap };
    return { name: 'file', cap, hint: parseHint(query) };
  }
  if (head === 'join' && rest !== '' && !rest.includes('/')) return { name: 'join', token: rest.trim() };
  if (rest === '' && (head === 'settings' || head === 'grid' || head === 'history' || head === 'files'))
    return { name: head };
  return { name: 'not-found' };
}

/** The fragment for a route; links are built from it. */
export function routeHash(route: Route): string {
  switch (route.name) {
    case 'home':
      return '#/';
    case 'file':
      return `#/file/${route.cap}${formatHint(route.hint)}`;
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

/** The shareable link for a cap on this origin: `<origin><path>#/file/<cap>[?name=…&type=…&grid=…]`. */
export function capLink(origin: string, pathname: string, cap: string, hint: LinkHint = {}): string {
  return `${origin}${pathname}${routeHash({ name: 'file', cap, hint })}`;
}

/** The title of the page each route shows (the file page sets its own from the file's name). */
export function routeTitle(route: Route): string {
  switch (route.name) {
    case 'home':
      return 'Upload';
    case 'file':
      return 'Shared file';
    case 'dir':
      return 'Folder';
    case 'files':
      return 'My files';
    case 'settings':
      return 'Settings';
    case 'grid':
      return 'Grid';
    case 'history':
      return 'History';
    default:
      return 'Page not found';
  }
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
