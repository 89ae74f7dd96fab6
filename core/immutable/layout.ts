/**
 * Immutable share layout (reference/tahoe-formats.md §2.10), the bytes a server stores for
 * one share number:
 *
 *   v1 header (36 bytes): u32 version=1, block_size, share_data_size, then u32 offsets of
 *   v2 header (68 bytes): u32 version=2, then the same eight fields as u64
 *     data | plaintext hash tree (unused, zeros) | crypttext hash tree | block hash tree |
 *     share hash chain | UEB (length-prefixed, u32 in v1, u64 in v2)
 *
 *   body: blocks of every segment; H zero bytes; crypttext tree (2P-1 hashes); this share's
 *   block tree (2P-1 hashes); chain entries u16(node) || hash (34 bytes each); UEB length; UEB.
 *
 * v2 is used only when a v1 field would overflow 32 bits, as Tahoe does.
 */
import { roundupPow2, treeSize, neededFor, leafIndex } from '../hashtree/tree.ts';
import { ShareCorruptError } from './errors.ts';
import type { SegmentGeometry } from './params.ts';

export interface ShareLayout {
  readonly version: 1 | 2;
  readonly headerSize: number;
  readonly blockSize: number;
  readonly shareDataSize: number;
  readonly dataOffset: number;
  readonly plaintextTreeOffset: number;
  readonly crypttextTreeOffset: number;
  readonly blockHashesOffset: number;
  readonly shareHashesOffset: number;
  readonly uebOffset: number;
}

export const HEADER_V1_SIZE = 0x24;
export const HEADER_V2_SIZE = 0x44;
const TWO_32 = 2 ** 32;

/** Bytes of one segment-level hash tree (crypttext or block tree) in a share. */
export function segmentTreeBytes(numSegments: number): number {
  return treeSize(numSegments) * 32;
}

/** Entries in each share's hash chain: the leaf plus its siblings up to the root. */
export function chainLength(n: number): number {
  return Math.log2(roundupPow2(n)) + 1;
}

function offsets(version: 1 | 2, g: SegmentGeometry): ShareLayout {
  const headerSize = version === 1 ? HEADER_V1_SIZE : HEADER_V2_SIZE;
  const h = segmentTreeBytes(g.numSegments);
  const plaintextTreeOffset = headerSize + g.shareDataSize;
  const crypttextTreeOffset = plaintextTreeOffset + h;
  const blockHashesOffset = crypttextTreeOffset + h;
  const shareHashesOffset = blockHashesOffset + h;
  const uebOffset = shareHashesOffset + 34 * chainLength(g.n);
  return {
    version,
    headerSize,
    blockSize: g.blockSize,
    shareDataSize: g.shareDataSize,
    dataOffset: headerSize,
    plaintextTreeOffset,
    crypttextTreeOffset,
    blockHashesOffset,
    shareHashesOffset,
    uebOffset,
  };
}

export function shareLayout(g: SegmentGeometry): ShareLayout {
  const v1 = offsets(1, g);
  if (g.blockSize < TWO_32 && g.shareDataSize < TWO_32 && v1.uebOffset < TWO_32) return v1;
  return offsets(2, g);
}

/** Width of the UEB length field. */
export const uebLengthFieldSize = (l: ShareLayout): number => (l.version === 1 ? 4 : 8);

/** Total bytes of a share: where the UEB starts, its length field, the UEB. */
export function shareSize(l: ShareLayout, uebLen: number): number {
  return l.uebOffset + uebLengthFieldSize(l) + uebLen;
}

/** Byte offset of segment `s`'s block in every share. */
export const blockOffset = (l: ShareLayout, s: number): number => l.dataOffset + s * l.blockSize;

function headerFields(l: ShareLayout): number[] {
  return [
    l.blockSize,
    l.shareDataSize,
    l.dataOffset,
    l.plaintextTreeOffset,
    l.crypttextTreeOffset,
    l.blockHashesOffset,
    l.shareHashesOffset,
    l.uebOffset,
  ];
}

export function encodeHeader(l: ShareLayout): Uint8Array {
  const out = new Uint8Array(l.headerSize);
  const view = new DataView(out.buffer);
  view.setUint32(0, l.version);
  headerFields(l).forEach((v, i) => {
    if (l.version === 1) view.setUint32(4 + 4 * i, v);
    else view.setBigUint64(4 + 8 * i, BigInt(v));
  });
  return out;
}

/**
 * Read a header and require it to be exactly the one this file's geometry implies: a
 * well-formed share of this file can have no other (`expected` from shareLayout()).
 */
export function checkHeader(shnum: number, bytes: Uint8Array, expected: ShareLayout): void {
  if (bytes.length < expected.headerSize)
    throw new ShareCorruptError(shnum, 'share is shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(0);
  if (version !== 1 && version !== 2) throw new ShareCorruptError(shnum, `unknown share version ${version}`);
  if (version !== expected.version) {
    throw new ShareCorruptError(shnum, `share version ${version} does not fit this file's size`);
  }
  const want = headerFields(expected);
  for (let i = 0; i < want.length; i++) {
    const got = version === 1 ? view.getUint32(4 + 4 * i) : Number(view.getBigUint64(4 + 8 * i));
    if (got !== want[i])
      throw new ShareCorruptError(shnum, `header field ${i + 1} is ${got}, expected ${want[i]}`);
  }
}

/**
 * Where the share's tail (crypttext tree, block tree, hash chain, UEB: one run at its end)
 * starts and where its UEB starts, as the header says: unchecked until the UEB gives the
 * geometry that checkHeader holds the header to.
 */
export function readTailOffsets(
  shnum: number,
  bytes: Uint8Array,
): { version: 1 | 2; crypttextTreeOffset: number; uebOffset: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new ShareCorruptError(shnum, 'share is shorter than its header');
  const version = view.getUint32(0);
  if (version === 1 && bytes.length >= HEADER_V1_SIZE) {
    return { version, crypttextTreeOffset: view.getUint32(0x14), uebOffset: view.getUint32(0x20) };
  }
  if (version === 2 && bytes.length >= HEADER_V2_SIZE) {
    return {
      version,
      crypttextTreeOffset: Number(view.getBigUint64(0x24)),
      uebOffset: Number(view.getBigUint64(0x3c)),
    };
  }
  if (version === 1 || version === 2) throw new ShareCorruptError(shnum, 'share is shorter than its header');
  throw new ShareCorruptError(shnum, `unknown share version ${version}`);
}

/**
 * Node indices of share `shnum`'s hash chain, in the order Tahoe writes them: a Python set
 * of small ints iterated in slot order (§2.10). Readers accept any order; writers need this
 * one for byte-identical shares.
 */
export function chainOrder(n: number, shnum: number): number[] {
  const leaf = leafIndex(n, shnum);
  return pythonSetOrder([...neededFor(leaf), leaf]);
}

/** Simulates CPython's set insertion, probing and resizing for non-negative small ints. */
export function pythonSetOrder(items: readonly number[]): number[] {
  let table: (number | undefined)[] = new Array(8);
  let fill = 0;
  const insert = (tbl: (number | undefined)[], key: number): boolean => {
    const mask = tbl.length - 1;
    let perturb = key;
    let i = key & mask;
    for (;;) {
      if (tbl[i] === undefined) {
        tbl[i] = key;
        return true;
      }
      if (tbl[i] === key) return false;
      if (i + 9 <= mask) {
        for (let j = i + 1; j <= i + 9; j++) {
          if (tbl[j] === undefined) {
            tbl[j] = key;
            return true;
          }
          if (tbl[j] === key) return false;
        }
      }
      perturb = Math.floor(perturb / 32);
      i = (i * 5 + 1 + perturb) & mask;
    }
  };
  for (const key of items) {
    if (!insert(table, key)) continue;
    fill++;
    if (fill * 5 >= (table.length - 1) * 3) {
      let size = 8;
      while (size <= fill * 4) size *= 2;
      const old = table;
      table = new Array(size);
      for (const e of old) if (e !== undefined) insert(table, e);
    }
  }
  return table.filter((e): e is number => e !== undefined);
}

/** Chain bytes: u16(node) || hash for each node, in `order`. */
export function encodeChain(order: readonly number[], tree: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(34 * order.length);
  order.forEach((node, i) => {
    out[34 * i] = node >> 8;
    out[34 * i + 1] = node & 0xff;
    out.set(tree[node], 34 * i + 2);
  });
  return out;
}

export function decodeChain(bytes: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let i = 0; i + 34 <= bytes.length; i += 34)
    out.set((bytes[i] << 8) | bytes[i + 1], bytes.slice(i + 2, i + 34));
  return out;
}
