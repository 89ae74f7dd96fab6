/**
 * Server announcements: what a server tells the relay (and, through it, every client)
 * about itself, signed with its ed25519 key so the relay can neither forge nor alter
 * one. Clients check the signatures themselves too, and may cache the signed bytes.
 */
import type { ServerId } from '../types.ts';
import { MAX_ANNOUNCED_CERTIFICATES, type SignedCertificate } from './grid-manager.ts';
import { decodeCbor, encodeCbor, Fields } from './cbor.ts';
import { ProtocolError } from './errors.ts';
import { isServerId, type ServerKeyPair, signTagged, verifyTagged } from './identity.ts';
import * as L from './limits.ts';

export interface Announcement {
  serverId: ServerId;
  nickname: string;
  /** The server's own WebSocket URL, or null for a server reachable only through the relay. */
  url: string | null;
  /** Bytes the server will still accept (free space net of reserved space and pending uploads). */
  availableSpace: number;
  /** Grows with every announcement of the same server (milliseconds since the epoch). */
  seq: number;
  /** Milliseconds since the epoch after which the announcement is stale. */
  expires: number;
  /**
   * Grid managers' certificates for this server (grid-manager.ts), checked by clients that
   * trust a manager; absent when it has none (the body then has no `gm` field at all).
   */
  certificates?: SignedCertificate[];
}

export interface SignedAnnouncement {
  body: Uint8Array;
  signature: Uint8Array;
}

const TAG = 'cairn-announcement-v1';

export function signAnnouncement(key: ServerKeyPair, ann: Announcement): SignedAnnouncement {
  if (ann.serverId !== key.serverId)
    throw new ProtocolError('BAD_ANNOUNCEMENT', 'announcement names another server');
  const body = encodeCbor({
    v: 1,
    serverId: ann.serverId,
    nickname: ann.nickname,
    url: ann.url,
    availableSpace: ann.availableSpace,
    seq: ann.seq,
    expires: ann.expires,
    ...(ann.certificates?.length
      ? { gm: ann.certificates.map((c) => ({ body: c.body, sig: c.signature })) }
      : {}),
  });
  return { body, signature: signTagged(key, TAG, body) };
}

/** Checks the form and the signature; `now` (ms) rejects stale ones. Throws BAD_ANNOUNCEMENT. */
export function verifyAnnouncement(signed: SignedAnnouncement, now: number): Announcement {
  const ann = decodeAnnouncement(signed);
  checkAnnouncementSignature(signed, ann);
  if (ann.expires <= now) {
    throw new ProtocolError('BAD_ANNOUNCEMENT', `announcement of ${ann.serverId.slice(0, 12)}… has expired`);
  }
  return ann;
}

/**
 * The announcement's fields, checked for form only: NOT verified. The relay reads them to
 * refuse stale, replayed and surplus announcements before paying for a signature check
 * (ed25519 verification is ~1 ms in JS, the costliest step by far); it always calls
 * `checkAnnouncementSignature` before it keeps one.
 */
export function decodeAnnouncement(signed: SignedAnnouncement): Announcement {
  if (!(signed.body instanceof Uint8Array) || !(signed.signature instanceof Uint8Array)) {
    throw new ProtocolError('BAD_ANNOUNCEMENT', 'an announcement is a body and a signature, both bytes');
  }
  try {
    const f = new Fields(decodeCbor(signed.body, L.MAX_ANNOUNCEMENT_BYTES), 'announcement');
    if (f.uint('v', 1000) !== 1) throw new ProtocolError('BAD_ANNOUNCEMENT', 'unknown announcement version');
    const serverId = f.string('serverId', 100);
    if (!isServerId(serverId))
      throw new ProtocolError('BAD_ANNOUNCEMENT', 'announcement has an invalid server id');
    const url = f.raw('url') === null ? null : f.string('url', L.MAX_URL_CHARS);
    if (url !== null && !/^wss?:\/\//.test(url)) {
      throw new ProtocolError('BAD_ANNOUNCEMENT', 'announcement URL must be ws:// or wss://');
    }
    const ann: Announcement = {
      serverId,
      nickname: f.string('nickname', L.MAX_NICKNAME_CHARS),
      url,
      availableSpace: f.uint('availableSpace', Number.MAX_SAFE_INTEGER),
      seq: f.uint('seq', Number.MAX_SAFE_INTEGER),
      expires: f.uint('expires', Number.MAX_SAFE_INTEGER),
    };
    if (f.has('gm')) {
      ann.certificates = f.array('gm', MAX_ANNOUNCED_CERTIFICATES).map((item) => {
        const c = new Fields(item, 'certificate');
        return { body: c.bytes('body', 1, 256), signature: c.bytes('sig', 64) };
      });
    }
    return ann;
  } catch (err) {
    if (err instanceof ProtocolError && err.code === 'BAD_ANNOUNCEMENT') throw err;
    throw new ProtocolError('BAD_ANNOUNCEMENT', `malformed announcement: ${(err as Error).message}`);
  }
}

/** Throws BAD_ANNOUNCEMENT unless `signed.signature` is the server's signature over `signed.body`. */
export function checkAnnouncementSignature(signed: SignedAnnouncement, ann: Announcement): void {
  if (!verifyTagged(ann.serverId, TAG, signed.body, signed.signature)) {
    throw new ProtocolError(
      'BAD_ANNOUNCEMENT',
      `announcement of ${ann.serverId.slice(0, 12)}… has a bad signature`,
    );
  }
}

/** Relay URL (http://HOST:PORT) → the WebSocket URL of one of its endpoints. */
export function relayEndpoint(relayUrl: string, path: string): string {
  let u: URL;
  try {
    u = new URL(relayUrl);
  } catch {
    throw new ProtocolError('BAD_REQUEST', 'the grid URL is not a URL (expected http://HOST:PORT)');
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new ProtocolError('BAD_REQUEST', 'the grid URL must start with http://, https://, ws:// or wss://');
  }
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** The route to a server through the relay. */
export function relayRoute(relayUrl: string, serverId: ServerId): string {
  return relayEndpoint(relayUrl, `/v1/connect/${serverId}`);
}
