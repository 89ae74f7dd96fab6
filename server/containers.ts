/**
 * Tahoe's on-disk share containers (reference/tahoe-formats.md §7.5), as pure functions
 * over bytes. Both are the "v2" flavour: lease secrets are stored as BLAKE2b-256 hashes,
 * so a stolen disk does not hand out renew/cancel secrets.
 *
 * Immutable: u32 version=2 ‖ u32 min(data length, 2^32-1) ‖ u32 lease count ‖ data ‖
 *            leases × 72 (u32 owner ‖ renew hash 32 ‖ cancel hash 32 ‖ u32 expiry secs)
 * Mutable:   magic 32 ‖ write-enabler node id 20 ‖ write enabler 32 ‖ u64 data length ‖
 *            u64 extra-lease offset ‖ 4 lease slots × 92 ‖ data (at 468) ‖
 *            u32 extra lease count ‖ extra leases × 92
 *            (slot: u32 owner ‖ u32 expiry secs ‖ renew hash 32 ‖ cancel hash 32 ‖ node id 20)
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { concatBytes, equalBytes, utf8 } from '../core/primitives/bytes.ts';
import { taggedHash } from '../core/primitives/tagged-hash.ts';

export const IMMUTABLE_HEADER_BYTES = 12;
export const IMMUTABLE_LEASE_BYTES = 72;
export const MUTABLE_HEADER_BYTES = 100;
export const MUTABLE_LEASE_BYTES = 92;
export const MUTABLE_SLOTS = 4;
export const MUTABLE_DATA_OFFSET = MUTABLE_HEADER_BYTES + MUTABLE_SLOTS * MUTABLE_LEASE_BYTES; // 468

const MUTABLE_MAGIC_TEXT = 'Tahoe mutable container v2\n';
export const MUTABLE_MAGIC = concatBytes(
  utf8(MUTABLE_MAGIC_TEXT),
  taggedHash('allmydata_mutable_container_header', utf8(MUTABLE_MAGIC_TEXT), 5),
);

export interface Lease {
  owner: number;
  renewHash: Uint8Array;
  cancelHash: Uint8Array;
  /** Seconds since the epoch. */
  expires: number;
  /** Mutable leases record the server's node id (our lease seed); immutable ones do not. */
  nodeId?: Uint8Array;
}

export function hashLeaseSecret(secret: Uint8Array): Uint8Array {
  return blake2b(secret, { dkLen: 32 });
}

export function newLease(renew: Uint8Array, cancel: Uint8Array, expires: number, nodeId?: Uint8Array): Lease {
  return {
    owner: 0,
    renewHash: hashLeaseSecret(renew),
    cancelHash: hashLeaseSecret(cancel),
    expires,
    nodeId,
  };
}

export type ShareKind = 'immutable' | 'mutable';

/** Which container the first 32 bytes of a share file belong to (null: neither). */
export function containerKind(head: Uint8Array): ShareKind | null {
  if (head.length >= 32 && equalBytes(head.subarray(0, 32), MUTABLE_MAGIC)) return 'mutable';
  if (head.length >= 4) {
    const v = view(head).getUint32(0);
    if (v === 1 || v === 2) return 'immutable';
  }
  return null;
}

// ---- immutable ----------------------------------------------------------------------

export function encodeImmutableHeader(dataLength: number, leaseCount: number): Uint8Array {
  const b = new Uint8Array(IMMUTABLE_HEADER_BYTES);
  const v = view(b);
  v.setUint32(0, 2);
  v.setUint32(4, Math.min(dataLength, 0xffffffff));
  v.setUint32(8, leaseCount);
  return b;
}

export interface ImmutableLayout {
  dataLength: number;
  leaseCount: number;
  leaseOffset: number;
}

/**
 * Reads the header. The data length is the header's own field, written once at close
 * (so a crash while leases change cannot move the end of the data); only for shares of
 * 4 GiB or more, where the field saturates, is it taken from the file size.
 */
export function immutableLayout(header: Uint8Array, fileSize: number): ImmutableLayout {
  if (header.length < IMMUTABLE_HEADER_BYTES) throw new Error('immutable share header is truncated');
  const v = view(header);
  const version = v.getUint32(0);
  if (version !== 2) throw new Error(`immutable share container version ${version} is not supported`);
  const field = v.getUint32(4);
  const leaseCount = v.getUint32(8);
  const dataLength =
    field < 0xffffffff ? field : fileSize - IMMUTABLE_HEADER_BYTES - leaseCount * IMMUTABLE_LEASE_BYTES;
  if (dataLength < 0 || IMMUTABLE_HEADER_BYTES + dataLength > fileSize) {
    throw new Error('immutable share is shorter than its header says');
  }
  return { dataLength, leaseCount, leaseOffset: IMMUTABLE_HEADER_BYTES + dataLength };
}

export function encodeImmutableLeases(leases: Lease[]): Uint8Array {
  const out = new Uint8Array(leases.length * IMMUTABLE_LEASE_BYTES);
  const v = view(out);
  leases.forEach((l, i) => {
    const at = i * IMMUTABLE_LEASE_BYTES;
    v.setUint32(at, l.owner);
    out.set(l.renewHash, at + 4);
    out.set(l.cancelHash, at + 36);
    v.setUint32(at + 68, l.expires);
  });
  return out;
}

export function decodeImmutableLeases(bytes: Uint8Array): Lease[] {
  const v = view(bytes);
  const leases: Lease[] = [];
  for (let at = 0; at + IMMUTABLE_LEASE_BYTES <= bytes.length; at += IMMUTABLE_LEASE_BYTES) {
    leases.push({
      owner: v.getUint32(at),
      renewHash: bytes.slice(at + 4, at + 36),
      cancelHash: bytes.slice(at + 36, at + 68),
      expires: v.getUint32(at + 68),
    });
  }
  return leases;
}

// ---- mutable ------------------------------------------------------------------------

export interface MutableHeader {
  nodeId: Uint8Array;
  writeEnabler: Uint8Array;
  dataLength: number;
  extraLeaseOffset: number;
  slots: Array<Lease | null>;
}

export function encodeMutableHeader(h: MutableHeader): Uint8Array {
  const b = new Uint8Array(MUTABLE_DATA_OFFSET);
  const v = view(b);
  b.set(MUTABLE_MAGIC, 0);
  b.set(h.nodeId, 32);
  b.set(h.writeEnabler, 52);
  v.setBigUint64(84, BigInt(h.dataLength));
  v.setBigUint64(92, BigInt(h.extraLeaseOffset));
  for (let i = 0; i < MUTABLE_SLOTS; i++) {
    const l = h.slots[i];
    if (l) b.set(encodeMutableLease(l), MUTABLE_HEADER_BYTES + i * MUTABLE_LEASE_BYTES);
  }
  return b;
}

export function decodeMutableHeader(b: Uint8Array): MutableHeader {
  if (b.length < MUTABLE_DATA_OFFSET || containerKind(b) !== 'mutable') {
    throw new Error('not a mutable share container');
  }
  const v = view(b);
  const slots: Array<Lease | null> = [];
  for (let i = 0; i < MUTABLE_SLOTS; i++) {
    slots.push(decodeMutableLease(b.subarray(MUTABLE_HEADER_BYTES + i * MUTABLE_LEASE_BYTES)));
  }
  return {
    nodeId: b.slice(32, 52),
    writeEnabler: b.slice(52, 84),
    dataLength: Number(v.getBigUint64(84)),
    extraLeaseOffset: Number(v.getBigUint64(92)),
    slots,
  };
}

export function encodeMutableLease(l: Lease): Uint8Array {
  const b = new Uint8Array(MUTABLE_LEASE_BYTES);
  const v = view(b);
  v.setUint32(0, l.owner);
  v.setUint32(4, l.expires);
  b.set(l.renewHash, 8);
  b.set(l.cancelHash, 40);
  if (l.nodeId) b.set(l.nodeId, 72);
  return b;
}

/** An all-zero slot is empty. */
export function decodeMutableLease(b: Uint8Array): Lease | null {
  const rec = b.subarray(0, MUTABLE_LEASE_BYTES);
  if (rec.every((x) => x === 0)) return null;
  const v = view(rec);
  return {
    owner: v.getUint32(0),
    expires: v.getUint32(4),
    renewHash: rec.slice(8, 40),
    cancelHash: rec.slice(40, 72),
    nodeId: rec.slice(72, 92),
  };
}

/** The extra-lease block after the data: u32 count ‖ leases. */
export function encodeExtraLeases(leases: Lease[]): Uint8Array {
  const out = new Uint8Array(4 + leases.length * MUTABLE_LEASE_BYTES);
  view(out).setUint32(0, leases.length);
  leases.forEach((l, i) => {
    out.set(encodeMutableLease(l), 4 + i * MUTABLE_LEASE_BYTES);
  });
  return out;
}

export function decodeExtraLeases(b: Uint8Array): Lease[] {
  if (b.length < 4) return [];
  const count = view(b).getUint32(0);
  const leases: Lease[] = [];
  for (let i = 0; i < count && 4 + (i + 1) * MUTABLE_LEASE_BYTES <= b.length; i++) {
    const l = decodeMutableLease(b.subarray(4 + i * MUTABLE_LEASE_BYTES));
    if (l) leases.push(l);
  }
  return leases;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
