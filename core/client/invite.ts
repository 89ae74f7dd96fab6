/**
 * Invitations to a grid: what a browser or a CLI needs to join it, in one token — the
 * grid's bootstrap URLs (its relay, any of its servers: each serves the signed server list)
 * and the public ids of the grid managers whose certified servers it should use. Nothing
 * in it is secret (no cap, no key that signs anything): it tells a client where to look and
 * whom to trust. The link is `<origin>/#/join/<token>` (the web app's Join page); the same
 * token is the code for `cairn join`.
 *
 * Token: base64url (no padding) of CBOR `{v: 1, g: [url…], m: [gm-v0-…]}`.
 */
import { CairnError } from '../errors.ts';
import { decodeCbor, encodeCbor, Fields } from '../protocol/cbor.ts';
import { gridOrigin } from '../protocol/grid.ts';
import { type GridManagerId, parseGridManagerId } from '../protocol/grid-manager.ts';

export interface Invitation {
  /** Grid URLs, best first: the relay's, and any storage servers'. At least one. */
  grid: string[];
  /** Grid managers to trust; empty: use every server the grid lists. */
  gridManagers: GridManagerId[];
}

export class InvitationError extends CairnError {
  constructor(message: string) {
    super('BAD_INVITATION', message);
  }
}

const MAX_URLS = 16;
const MAX_MANAGERS = 4;
const MAX_TOKEN_CHARS = 4096;

export function encodeInvitation(inv: Invitation): string {
  checkInvitation(inv);
  return base64url(encodeCbor({ v: 1, g: inv.grid, m: inv.gridManagers }));
}

/** A token, or a whole link (…#/join/TOKEN), → the invitation it carries. Throws BAD_INVITATION. */
export function decodeInvitation(text: string): Invitation {
  const t = text.trim();
  const token = t.includes('/join/') ? t.slice(t.lastIndexOf('/join/') + 6) : t;
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new InvitationError(
      'not an invitation: expected a code or a link ending in /#/join/CODE (cairn invite prints both)',
    );
  }
  let inv: Invitation;
  try {
    const f = new Fields(decodeCbor(unbase64url(token), MAX_TOKEN_CHARS), 'invitation');
    if (f.uint('v', 1000) !== 1) throw new Error('an invitation of a newer version: update Cairn');
    inv = {
      grid: f.array('g', MAX_URLS).map((u) => {
        if (typeof u !== 'string') throw new Error('a grid URL is text');
        return u;
      }),
      gridManagers: f.array('m', MAX_MANAGERS).map((m) => parseGridManagerId(String(m))),
    };
  } catch (err) {
    throw new InvitationError(`not a usable invitation: ${(err as Error).message}`);
  }
  checkInvitation(inv);
  return inv;
}

function checkInvitation(inv: Invitation): void {
  if (inv.grid.length === 0 || inv.grid.length > MAX_URLS) {
    throw new InvitationError(`an invitation names 1 to ${MAX_URLS} grid URLs`);
  }
  for (const u of inv.grid) {
    try {
      gridOrigin(u);
    } catch {
      throw new InvitationError("an invitation's grid URLs are http(s):// or ws(s):// URLs");
    }
  }
  if (inv.gridManagers.length > MAX_MANAGERS) {
    throw new InvitationError(`an invitation names at most ${MAX_MANAGERS} grid managers`);
  }
}

/** The link to the web app's Join page at `origin` (the page's own origin, e.g. the relay's). */
export function invitationLink(origin: string, inv: Invitation): string {
  return `${origin.replace(/\/+$/, '')}/#/join/${encodeInvitation(inv)}`;
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unbase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
