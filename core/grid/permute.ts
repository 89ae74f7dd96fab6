/**
 * Server order per storage index, exactly as Tahoe orders them (reference/tahoe-formats.md
 * §6.1): ascending by (not preferred, SHA-1(SI || permutation seed)). Uploads and downloads
 * walk servers in this order, so every client looks for a file's shares in the same places.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '#sha256';
import { base32Decode } from '../primitives/base32.ts';
import { concatBytes, utf8 } from '../primitives/bytes.ts';
import type { ServerId, StorageIndex } from '../types.ts';

const V0_ID = /^v0-[a-z2-7]{51}[aq]$/;

/**
 * The bytes a server is permuted by: an announced seed when there is one, else the 32-byte
 * Ed25519 key inside a `v0-` id, else SHA-256 of the id text (Tahoe's three cases).
 */
export function permutationSeed(serverId: ServerId, announcedSeed?: Uint8Array): Uint8Array {
  if (announcedSeed !== undefined) return announcedSeed;
  if (V0_ID.test(serverId)) return base32Decode(serverId.slice(3));
  return sha256(utf8(serverId));
}

export interface PermutableServer {
  readonly serverId: ServerId;
  /** Announced `permutation-seed`, if the server published one. */
  readonly permutationSeed?: Uint8Array;
  /** Preferred servers (client configuration) come first, each group in permuted order. */
  readonly preferred?: boolean;
}

/** The 20-byte sort key of one server for one storage index. */
export function permutationKey(si: StorageIndex, server: PermutableServer): Uint8Array {
  return sha1(concatBytes(si, permutationSeed(server.serverId, server.permutationSeed)));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Returns a new array: `servers` in Tahoe's permuted order for `si`. The input is not changed. */
export function permuteServers<T extends PermutableServer>(si: StorageIndex, servers: readonly T[]): T[] {
  const keyed = servers.map((server) => ({ server, key: permutationKey(si, server) }));
  keyed.sort((a, b) => {
    const pa = a.server.preferred ? 0 : 1;
    const pb = b.server.preferred ? 0 : 1;
    if (pa !== pb) return pa - pb;
    // SHA-1 ties cannot happen between distinct seeds in practice; the id keeps the order total.
    const c = compareBytes(a.key, b.key);
    return c !== 0
      ? c
      : a.server.serverId < b.server.serverId
        ? -1
        : a.server.serverId > b.server.serverId
          ? 1
          : 0;
  });
  return keyed.map((k) => k.server);
}
