/**
 * Lease secrets (reference/tahoe-formats.md §7.4): one random 32-byte client secret makes a
 * renew and a cancel secret per (file, server), so a server learns nothing that works on
 * another server and the client stores nothing per file. Upload secrets are derived the same
 * way (uploadSecretFor), which is what lets an interrupted upload be resumed. Pure.
 */
import { base32Decode } from '../primitives/base32.ts';
import { equalBytes, utf8 } from '../primitives/bytes.ts';
import { taggedHash, taggedPairHash } from '../primitives/tagged-hash.ts';
import { InputError } from '../errors.ts';
import { serverLeaseSeed } from '../protocol/identity.ts';
import type { LeaseSecrets, UploadSecrets } from '../protocol/storage-api.ts';
import type { ServerId, StorageIndex } from '../types.ts';

export const TAG_CLIENT_RENEWAL = 'allmydata_client_renewal_secret_v1';
export const TAG_CLIENT_CANCEL = 'allmydata_client_cancel_secret_v1';
export const TAG_FILE_RENEWAL = 'allmydata_file_renewal_secret_v1';
export const TAG_FILE_CANCEL = 'allmydata_file_cancel_secret_v1';
export const TAG_BUCKET_RENEWAL = 'allmydata_bucket_renewal_secret_v1';
export const TAG_BUCKET_CANCEL = 'allmydata_bucket_cancel_secret_v1';

/** Cairn's own tags for upload secrets (Tahoe sends random ones; see uploadSecretFor). */
export const TAG_CLIENT_UPLOAD = 'cairn_client_upload_secret_v1';
export const TAG_FILE_UPLOAD = 'cairn_file_upload_secret_v1';
export const TAG_BUCKET_UPLOAD = 'cairn_bucket_upload_secret_v1';

export const CLIENT_SECRET_LENGTH = 32;

/** The client-level pair. Tahoe swaps tag and value here: the secret is the netstring-wrapped "tag". */
export function clientLeaseSecrets(clientSecret: Uint8Array): LeaseSecrets {
  if (clientSecret.length !== CLIENT_SECRET_LENGTH) {
    throw new InputError(
      `client lease secret must be ${CLIENT_SECRET_LENGTH} bytes, not ${clientSecret.length}`,
    );
  }
  return {
    renew: taggedHash(clientSecret, utf8(TAG_CLIENT_RENEWAL)),
    cancel: taggedHash(clientSecret, utf8(TAG_CLIENT_CANCEL)),
  };
}

/** Per-file secrets: the client pair bound to one storage index. */
export function fileLeaseSecrets(client: LeaseSecrets, si: StorageIndex): LeaseSecrets {
  return {
    renew: taggedPairHash(TAG_FILE_RENEWAL, client.renew, si),
    cancel: taggedPairHash(TAG_FILE_CANCEL, client.cancel, si),
  };
}

/** What one server receives: the file pair bound to that server's lease seed. */
export function bucketLeaseSecrets(file: LeaseSecrets, leaseSeed: Uint8Array): LeaseSecrets {
  return {
    renew: taggedPairHash(TAG_BUCKET_RENEWAL, file.renew, leaseSeed),
    cancel: taggedPairHash(TAG_BUCKET_CANCEL, file.cancel, leaseSeed),
  };
}

/**
 * The secrets to send to `serverId` for the file `si`. The server's lease seed stands where
 * Tahoe uses the Tub ID (core/protocol/identity.ts serverLeaseSeed).
 */
export function leaseSecretsFor(
  clientSecret: Uint8Array,
  si: StorageIndex,
  serverId: ServerId,
): LeaseSecrets {
  return bucketLeaseSecrets(fileSecrets(clientSecret, si).lease, serverLeaseSeed(serverId));
}

/** A file's secrets before they are bound to a server: derive once per file, bind per server. */
export interface FileSecrets {
  lease: LeaseSecrets;
  upload: Uint8Array;
}

/**
 * The per-file secrets (lease pair and upload secret) of `si`. An upload binds them to ten
 * or more servers: deriving them once instead of per server saves 16 SHA-256d per file
 * (a few ms of client CPU per small file in `cp -r`).
 */
export function fileSecrets(clientSecret: Uint8Array, si: StorageIndex): FileSecrets {
  const client = clientLevel(clientSecret);
  return {
    lease: fileLeaseSecrets(client.lease, si),
    upload: taggedPairHash(TAG_FILE_UPLOAD, client.upload, si),
  };
}

/** What `serverId` receives for a file: its lease and upload secrets. */
export function serverSecrets(file: FileSecrets, serverId: ServerId): UploadSecrets {
  const seed = serverLeaseSeed(serverId);
  return {
    ...bucketLeaseSecrets(file.lease, seed),
    upload: taggedPairHash(TAG_BUCKET_UPLOAD, file.upload, seed),
  };
}

/**
 * The client-level secrets of the last client secret seen: a process uses one, and every
 * file's derivation starts from them (three SHA-256d each time otherwise).
 */
let lastClient: { secret: Uint8Array; lease: LeaseSecrets; upload: Uint8Array } | undefined;

function clientLevel(clientSecret: Uint8Array): { lease: LeaseSecrets; upload: Uint8Array } {
  if (lastClient && equalBytes(lastClient.secret, clientSecret)) return lastClient;
  const lease = clientLeaseSecrets(clientSecret);
  lastClient = { secret: clientSecret.slice(), lease, upload: taggedHash(TAG_CLIENT_UPLOAD, clientSecret) };
  return lastClient;
}

/** Parses a client secret stored as base32 text (Tahoe's `private/secret` format). */
export function parseClientSecret(text: string): Uint8Array {
  const bytes = base32Decode(text.trim());
  if (bytes.length !== CLIENT_SECRET_LENGTH) {
    throw new InputError(`client lease secret must be ${CLIENT_SECRET_LENGTH} bytes, not ${bytes.length}`);
  }
  return bytes;
}

/**
 * The upload secret to send to `serverId` for the file `si` (32 bytes). Tahoe sends a random
 * one per upload; Cairn derives it like the lease secrets, from the client's secret, the
 * storage index and the server's lease seed, so the same client uploading the same file
 * again (a convergent key gives the same storage index; a kept random key too) presents the
 * same secret, and each server continues the buckets it already holds for it. Another
 * client, or another server, cannot compute it; one server's secret is of no use on another.
 */
export function uploadSecretFor(clientSecret: Uint8Array, si: StorageIndex, serverId: ServerId): Uint8Array {
  if (clientSecret.length !== CLIENT_SECRET_LENGTH) {
    throw new InputError(
      `client lease secret must be ${CLIENT_SECRET_LENGTH} bytes, not ${clientSecret.length}`,
    );
  }
  return taggedPairHash(TAG_BUCKET_UPLOAD, fileSecrets(clientSecret, si).upload, serverLeaseSeed(serverId));
}
