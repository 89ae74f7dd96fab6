/**
 * The write-ahead journal of one change to a mutable slot (all shares of one storage
 * index): which shares are deleted, and which get which patches (mutable-plan.ts). It is
 * stored durably before any share is touched and removed once the change is applied and
 * fsynced, so after a crash a slot is either untouched (no journal, or a torn one that is
 * discarded) or has its journal replayed in full: never half old, half new.
 *
 *   magic "cairn slot journal v1\n" ‖ u32 op count ‖ ops ‖ SHA-256 of everything before
 *   op: u8 shnum ‖ u8 kind (0 delete, 1 patch, 2 create and patch)
 *       [patch] u64 final size ‖ u32 patch count ‖ (u64 offset ‖ u32 length ‖ bytes)…
 */
import { createHash } from 'node:crypto';
import { equalBytes, utf8 } from '../core/primitives/bytes.ts';
import { asShareNum, type ShareNum } from '../core/types.ts';
import type { Patch } from './mutable-plan.ts';

export type JournalOp =
  | { sh: ShareNum; kind: 'delete' }
  | { sh: ShareNum; kind: 'patch' | 'create'; size: number; patches: Patch[] };

const MAGIC = utf8('cairn slot journal v1\n');
const KIND_CODES = { delete: 0, patch: 1, create: 2 } as const;
const HASH_BYTES = 32;

export function encodeJournal(ops: JournalOp[]): Uint8Array {
  let length = MAGIC.length + 4 + HASH_BYTES;
  for (const op of ops) {
    length += 2;
    if (op.kind !== 'delete') length += 12 + op.patches.reduce((n, p) => n + 12 + p.data.length, 0);
  }
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  out.set(MAGIC);
  let at = MAGIC.length;
  v.setUint32(at, ops.length);
  at += 4;
  for (const op of ops) {
    out[at] = op.sh;
    out[at + 1] = KIND_CODES[op.kind];
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
      if (code !== KIND_CODES.patch && code !== KIND_CODES.create) return null;
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
