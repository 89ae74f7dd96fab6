/**
 * Tahoe's on-disk share containers (reference/tahoe-formats.md §7.5; Tahoe's
 * storage/immutable.py, mutable.py, *_schema.py, lease.py), as pure functions over bytes.
 * Cairn creates the "v2" flavour, whose lease secrets are stored as BLAKE2b-256 hashes (a
 * stolen disk does not hand out renew/cancel secrets); it reads and changes "v1" containers
 * too (Tahoe before 1.17 wrote them: the same layout with the secrets in clear), keeping
 * them v1 as Tahoe does.
 *
 * Immutable: u32 version ‖ u32 min(data length, 2^32-1) ‖ u32 lease count ‖ data ‖
 *            leases × 72 (u32 owner ‖ renew 32 ‖ cancel 32 ‖ u32 expiry secs)
 * Mutable:   magic 32 ‖ write-enabler node id 20 ‖ write enabler 32 ‖ u64 data length ‖
 *            u64 extra-lease offset ‖ 4 lease slots × 92 ‖ data (at 468) ‖ …
 *            at the extra-lease offset: u32 extra lease count ‖ extra leases × 92
 *            (slot: u32 owner ‖ u32 expiry secs ‖ renew 32 ‖ cancel 32 ‖ node id 20)
 *            A slot whose owner is 0 is empty (Tahoe's rule).
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { concatBytes, equalBytes, utf8 } from '../core/primitives/bytes.ts';
import { taggedHash } from '../core/primitives/tagged-hash.ts';

export const IMMUTABLE_HEADER_BYTES = 12;
export const IMMUTABLE_LEASE_BYTES = 72;
export const MUTABLE_HEADER_BYTES = 100;
export const MUTABLE_LEASE_BYTES = 92;
export const MUTABLE_SLOTS = 4;
export const MUTABLE_DATA_OFFSET = MUTABLE_HEADER_BYTES + MUTABLE_LEASE_BYTES * MUTABLE_SLOTS; // 468

/** 1: lease secrets in clear (Tahoe < 1.17); 2: BLAKE2b-256 of them (what Cairn and Tahoe create). */
export type ContainerVersion = 1 | 2;

const MUTABLE_MAGIC_TEXT = 'Tahoe mutable container v2\n';
export const MUTABLE_MAGIC = concatBytes(
  utf8(MUTABLE_MAGIC_TEXT),
  taggedHash('allmydata_mutable_container_header', utf8(MUTABLE_MAGIC_TEXT), 5),
);
export const MUTABLE_MAGIC_V1 = concatBytes(
  utf8('Tahoe mutable container v1\n'),
  new Uint8Array([0x75, 0x09, 0x44, 0x03, 0x8e]),
);

/**
 * Tahoe's owner numbers: leases made by allocating an immutable share carry 0, those added
 * by add-lease and every mutable one 1 (a mutable slot with owner 0 is empty).
 */
export const OWNER_ALLOCATE = 0;
export const OWNER_LEASE = 1;

export interface Lease {
  owner: number;
  /** The renew secret as the container stores it: its BLAKE2b-256 hash (v2) or itself (v1). */
  renewHash: Uint8Array;
  /** The cancel secret, stored the same way. */
  cancelHash: Uint8Array;
  /** Seconds since the epoch. */
  expires: number;
  /** Mutable leases record the server's node id (our lease seed); immutable ones do not. */
  nodeId?: Uint8Array;
}

export function hashLeaseSecret(secret: Uint8Array): Uint8Array {
  return blake2b(secret, { dkLen: 32 });
}

/** A lease secret in the form a container of `version` stores it. */
export function storedLeaseSecret(secret: Uint8Array, version: ContainerVersion = 2): Uint8Array {
  return version === 1 ? secret.slice() : hashLeaseSecret(secret);
}

/**
 * A lease to put on a share: for immutable shares (no node id) owner `OWNER_ALLOCATE`
 * unless given, for mutable ones (with the node id) `OWNER_LEASE`, as Tahoe does.
 */
export function newLease(
  renew: Uint8Array,
  cancel: Uint8Array,
  expires: number,
  nodeId?: Uint8Array,
  owner = nodeId ? OWNER_LEASE : OWNER_ALLOCATE,
  version: ContainerVersion = 2,
): Lease {
  return {
    owner,
    renewHash: storedLeaseSecret(renew, version),
    cancelHash: storedLeaseSecret(cancel, version),
    expires,
    nodeId,
  };
}

/** What a client presents: its secrets and the expiry its lease gets. */
export interface LeaseRequest {
  renew: Uint8Array;
  cancel: Uint8Array;
  expires: number;
  owner: number;
  /** Set for mutable shares. */
  nodeId?: Uint8Array;
}

/** The lease `req` stands for in a container of `version`. */
export function leaseFor(req: LeaseRequest, version: ContainerVersion): Lease {
  return newLease(req.renew, req.cancel, req.expires, req.nodeId, req.owner, version);
}

export type ShareKind = 'immutable' | 'mutable';

/** Which container the first 32 bytes of a share file belong to (null: neither). */
export function containerKind(head: Uint8Array): ShareKind | null {
  if (mutableVersion(head) !== null) return 'mutable';
  if (head.length >= 4) {
    const v = view(head).getUint32(0);
    if (v === 1 || v === 2) return 'immutable';
  }
  return null;
}

function mutableVersion(head: Uint8Array): ContainerVersion | null {
  if (head.length < 32) return null;
  const magic = head.subarray(0, 32);
  if (equalBytes(magic, MUTABLE_MAGIC)) return 2;
  if (equalBytes(magic, MUTABLE_MAGIC_V1)) return 1;
  return null;
}

// ---- immutable ----------------------------------------------------------------------

export function encodeImmutableHeader(
  dataLength: number,
  leaseCount: number,
  version: ContainerVersion = 2,
): Uint8Array {
  const b = new Uint8Array(IMMUTABLE_HEADER_BYTES);
  const v = view(b);
  v.setUint32(0, version);
  v.setUint32(4, Math.min(dataLength, 0xffffffff));
  v.setUint32(8, leaseCount);
  return b;
}

/** The header's lease count field (offset 8), the only part of it a lease change rewrites. */
export const IMMUTABLE_LEASE_COUNT_OFFSET = 8;
export function encodeLeaseCount(count: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, count);
  return b;
}

export interface ImmutableLayout {
  version: ContainerVersion;
  dataLength: number;
  leaseCount: number;
  leaseOffset: number;
}

/**
 * Reads the header. The data length is the header's own field, written once (so a crash
 * while a lease is added, record before count, cannot move the end of the data). Tahoe
 * itself takes it from the file size (size − 12 − 72 × count), which agrees whenever the
 * field can hold it; the file size decides where the field saturated (shares of 4 GiB or
 * more) or holds the length modulo 2^32 (what Tahoe's footnote says older servers wrote).
 */
export function immutableLayout(header: Uint8Array, fileSize: number): ImmutableLayout {
  if (header.length < IMMUTABLE_HEADER_BYTES) throw new Error('immutable share header is truncated');
  const v = view(header);
  const version = v.getUint32(0);
  if (version !== 1 && version !== 2) {
    throw new Error(`immutable share container version ${version} is not supported`);
  }
  const field = v.getUint32(4);
  const leaseCount = v.getUint32(8);
  const fromSize = fileSize - IMMUTABLE_HEADER_BYTES - leaseCount * IMMUTABLE_LEASE_BYTES;
  const dataLength =
    field === 0xffffffff || (fromSize > field && (fromSize - field) % 2 ** 32 === 0) ? fromSize : field;
  if (dataLength < 0 || IMMUTABLE_HEADER_BYTES + dataLength > fileSize) {
    throw new Error('immutable share is shorter than its header says');
  }
  return { version, dataLength, leaseCount, leaseOffset: IMMUTABLE_HEADER_BYTES + dataLength };
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
  version: ContainerVersion;
  nodeId: Uint8Array;
  writeEnabler: Uint8Array;
  dataLength: number;
  extraLeaseOffset: number;
  /** The four lease slots (null: empty). */
  slots: Array<Lease | null>;
}

/** A header as Tahoe creates it, with the given slots filled (empty ones are zeros). */
export function encodeMutableHeader(
  h: Omit<MutableHeader, 'version'> & { version?: ContainerVersion },
): Uint8Array {
  const b = new Uint8Array(MUTABLE_DATA_OFFSET);
  const v = view(b);
  b.set(h.version === 1 ? MUTABLE_MAGIC_V1 : MUTABLE_MAGIC, 0);
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
  const version = b.length >= MUTABLE_DATA_OFFSET ? mutableVersion(b) : null;
  if (version === null) throw new Error('not a mutable share container');
  const v = view(b);
  const slots: Array<Lease | null> = [];
  for (let i = 0; i < MUTABLE_SLOTS; i++) {
    slots.push(decodeMutableLease(b.subarray(MUTABLE_HEADER_BYTES + i * MUTABLE_LEASE_BYTES)));
  }
  return {
    version,
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

/**
 * A slot's lease, or null when the slot is empty. Tahoe's rule is "owner 0 means no lease
 * here": fresh slots are zeros, and a cancelled (expired) lease is overwritten with a blank
 * record of owner 0 and expiry 0 (whose secrets a v2 container stores hashed, so it is not
 * all zeros). Cairn before this rule wrote its mutable leases with owner 0 and a real
 * expiry: such a record is still a lease here (read as owner 1, and written so when it next
 * changes), so no share lost its leases to the change.
 */
export function decodeMutableLease(b: Uint8Array): Lease | null {
  const rec = b.subarray(0, MUTABLE_LEASE_BYTES);
  const v = view(rec);
  const owner = v.getUint32(0);
  const expires = v.getUint32(4);
  if (owner === 0 && expires === 0) return null;
  return {
    owner: owner === 0 ? OWNER_LEASE : owner,
    expires,
    renewHash: rec.slice(8, 40),
    cancelHash: rec.slice(40, 72),
    nodeId: rec.slice(72, 92),
  };
}

/** The record Tahoe writes over a cancelled lease: owner 0, expiry 0, zero secrets (hashed in v2), zero node id. */
export function blankMutableLease(version: ContainerVersion): Uint8Array {
  const b = new Uint8Array(MUTABLE_LEASE_BYTES);
  if (version === 2) {
    const zero = hashLeaseSecret(new Uint8Array(32));
    b.set(zero, 8);
    b.set(zero, 40);
  }
  return b;
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

/** The records of an extra-lease block (raw, empty ones included), as far as the bytes go. */
export function extraLeaseRecords(b: Uint8Array): Uint8Array[] {
  if (b.length < 4) return [];
  const count = view(b).getUint32(0);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count && 4 + (i + 1) * MUTABLE_LEASE_BYTES <= b.length; i++) {
    out.push(b.subarray(4 + i * MUTABLE_LEASE_BYTES, 4 + (i + 1) * MUTABLE_LEASE_BYTES));
  }
  return out;
}

export function decodeExtraLeases(b: Uint8Array): Lease[] {
  return extraLeaseRecords(b)
    .map(decodeMutableLease)
    .filter((l): l is Lease => l !== null);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
