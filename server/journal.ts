/**
 * The write-ahead journal of one change to a mutable slot (all shares of one storage
 * index): which shares are deleted, and which get which patches (mutable-plan.ts). It is
 * stored durably before any share is touched and removed once the change is applied and
 * fsynced, so after a crash a slot is either untouched (no journal, or a torn one that is
 * discarded) or has its journal replayed in full: never half old, half new.
 *
 *   magic "cairn slot journal v1\n" ‖ u32 op count ‖ ops ‖ SHA-256 of everything before
 *   op: u8 shnum ‖ u8 kind (0 delete, 1 patch, 2 create and patch, 3 patch and append)
 *       [patch] u64 final size ‖ u32 patch count ‖ (u64 offset ‖ u32 length ‖ bytes)…
 *       [append] u64 old file size ‖ u32 extent count ‖ (u64 offset ‖ u32 length)… ‖
 *                SHA-256 of the appended bytes, extent after extent
 *
 * An append's bytes (those past the share's old end of file, which no reader looks at) are
 * not in the journal: they are written to the share after it, and the journal keeps only
 * where they go and their hash. A replay after a crash finds them whole (their hash matches:
 * the change goes ahead) or not (then nothing readers see was touched yet, for the visible
 * patches are applied only once every append is durable: the shares are cut back to their
 * old sizes, and the slot is as it was).
 */
import { createHash } from 'node:crypto';
import { equalBytes, utf8 } from '../core/primitives/bytes.ts';
import { asShareNum, type ShareNum } from '../core/types.ts';
import type { Patch } from './mutable-plan.ts';

export type JournalOp =
  | { sh: ShareNum; kind: 'delete' }
  | { sh: ShareNum; kind: 'patch' | 'create'; size: number; patches: Patch[]; append?: Append };

/** Bytes written past a share's old end of file, kept out of the journal (see above). */
export interface Append {
  /** The share's size before the change: a change that does not go ahead cuts it back to this. */
  from: number;
  extents: Array<{ offset: number; length: number }>;
  hash: Uint8Array;
  /** The bytes themselves: only in the process that made the change, never in the journal. */
  patches?: Patch[];
}

/** The Append of `patches` (all at or past `from`). */
export function appendOf(from: number, patches: Patch[]): Append {
  const h = createHash('sha256');
  for (const p of patches) h.update(p.data);
  return {
    from,
    extents: patches.map((p) => ({ offset: p.offset, length: p.data.length })),
    hash: new Uint8Array(h.digest()),
    patches,
  };
}

const MAGIC = utf8('cairn slot journal v1\n');
const KIND_CODES = { delete: 0, patch: 1, create: 2, append: 3 } as const;
const HASH_BYTES = 32;

export function encodeJournal(ops: JournalOp[]): Uint8Array {
  let length = MAGIC.length + 4 + HASH_BYTES;
  for (const op of ops) {
    length += 2;
    if (op.kind !== 'delete') length += 12 + op.patches.reduce((n, p) => n + 12 + p.data.length, 0);
    if (op.kind !== 'delete' && op.append) length += 12 + 12 * op.append.extents.length + HASH_BYTES;
  }
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  out.set(MAGIC);
  let at = MAGIC.length;
  v.setUint32(at, ops.length);
  at += 4;
  for (const op of ops) {
    out[at] = op.sh;
    out[at + 1] = op.kind === 'patch' && op.append ? KIND_CODES.append : KIND_CODES[op.kind];
    at += 2;
    if (op.kind === 'delete') continue;
    v.setBigUint64(at, BigInt(op.size));
    v.setUint32(at + 8, op.patches.length);
    at += 12;
    for (const p of op.patches) {
      v.setBigUint64(at, BigInt(p.offset));
      v.setUint32(at + 8, p.data.length);
      out.set(p.data, at + 12);
      at += 12 + p.data.length;
    }
    if (!op.append) continue;
    v.setBigUint64(at, BigInt(op.append.from));
    v.setUint32(at + 8, op.append.extents.length);
    at += 12;
    for (const e of op.append.extents) {
      v.setBigUint64(at, BigInt(e.offset));
      v.setUint32(at + 8, e.length);
      at += 12;
    }
    out.set(op.append.hash, at);
    at += HASH_BYTES;
  }
  out.set(sha256(out.subarray(0, at)), at);
  return out;
}

/** The ops of a journal, or null if it is torn or not a journal (then it was never applied). */
export function decodeJournal(bytes: Uint8Array): JournalOp[] | null {
  if (bytes.length < MAGIC.length + 4 + HASH_BYTES) return null;
  const body = bytes.subarray(0, bytes.length - HASH_BYTES);
  if (!equalBytes(body.subarray(0, MAGIC.length), MAGIC)) return null;
  if (!equalBytes(sha256(body), bytes.subarray(body.length))) return null;
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = MAGIC.length;
  const need = (n: number) => {
    if (at + n > body.length) throw new RangeError('journal op runs past its end');
  };
  try {
    need(4);
    const count = v.getUint32(at);
    at += 4;
    const ops: JournalOp[] = [];
    for (let i = 0; i < count; i++) {
      need(2);
      const sh = asShareNum(body[at]);
      const code = body[at + 1];
      at += 2;
      if (code === KIND_CODES.delete) {
        ops.push({ sh, kind: 'delete' });
        continue;
      }
      if (code !== KIND_CODES.patch && code !== KIND_CODES.create && code !== KIND_CODES.append) return null;
      need(12);
      const size = Number(v.getBigUint64(at));
      const n = v.getUint32(at + 8);
      at += 12;
      const patches: Patch[] = [];
      for (let j = 0; j < n; j++) {
        need(12);
        const offset = Number(v.getBigUint64(at));
        const len = v.getUint32(at + 8);
        at += 12;
        need(len);
        patches.push({ offset, data: body.subarray(at, at + len) });
        at += len;
      }
      if (code === KIND_CODES.append) {
        need(12);
        const from = Number(v.getBigUint64(at));
        const m = v.getUint32(at + 8);
        at += 12;
        const extents: Append['extents'] = [];
        for (let j = 0; j < m; j++) {
          need(12);
          extents.push({ offset: Number(v.getBigUint64(at)), length: v.getUint32(at + 8) });
          at += 12;
        }
        need(HASH_BYTES);
        const hash = body.subarray(at, at + HASH_BYTES);
        at += HASH_BYTES;
        ops.push({ sh, kind: 'patch', size, patches, append: { from, extents, hash } });
        continue;
      }
      ops.push({ sh, kind: code === KIND_CODES.create ? 'create' : 'patch', size, patches });
    }
    return at === body.length ? ops : null;
  } catch {
    return null;
  }
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}
