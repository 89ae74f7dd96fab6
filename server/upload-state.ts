/**
 * How an upload in progress is named and what its checkpoint records (pure): the bucket
 * key of a share, the parked key of one upload of it (the secret's hash, never the secret),
 * and the state kept beside its data so a restart can hand it back to its client.
 */
import { createHash } from 'node:crypto';
import { decodeCbor, encodeCbor, Fields } from '../core/protocol/cbor.ts';
import * as L from '../core/protocol/limits.ts';
import { isCanonical } from '../core/protocol/ranges.ts';
import type { ShareNum, StorageIndex } from '../core/types.ts';
import type { Range } from './ranges.ts';
import { siKey } from './si.ts';
import type { Bucket } from './uploads.ts';

export function bucketKey(si: StorageIndex, sh: ShareNum): string {
  return `${siKey(si)}/${sh}`;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function parkedKey(bucket: string, secretHash: Uint8Array): string {
  let hex = '';
  for (const b of secretHash) hex += b.toString(16).padStart(2, '0');
  return `${bucket}/${hex}`;
}

/** What a checkpoint records beside an upload's data: whose it is and which bytes are durable. */
export interface UploadState {
  si: Uint8Array;
  sh: number;
  secretHash: Uint8Array;
  size: number;
  at: number;
  ranges: Range[];
}

const MAX_STATE_RANGES = L.MAX_BUCKET_RANGES;

export function encodeUploadState(b: Bucket, ranges: Range[], at: number): Uint8Array {
  return encodeCbor({ v: 1, si: b.si, sh: b.sh, secret: b.secretHash, size: b.size, at, ranges });
}

/** A checkpoint's state, or null if it is not one this version wrote. */
export function decodeUploadState(bytes: Uint8Array): UploadState | null {
  try {
    const f = new Fields(decodeCbor(bytes, L.MAX_FRAME_BYTES), 'upload state');
    if (f.uint('v', 1) !== 1) return null;
    const size = f.uint('size', L.MAX_IMMUTABLE_SHARE_BYTES);
    const ranges = f.array('ranges', MAX_STATE_RANGES) as Range[];
    if (!isCanonical(ranges, size)) return null;
    return {
      si: f.bytes('si', L.STORAGE_INDEX_BYTES).slice(),
      sh: f.uint('sh', L.MAX_SHNUM),
      secretHash: f.bytes('secret', 32).slice(),
      size,
      at: f.uint('at', Number.MAX_SAFE_INTEGER),
      ranges: ranges.map(([x, y]): Range => [x, y]),
    };
  } catch {
    return null;
  }
}
