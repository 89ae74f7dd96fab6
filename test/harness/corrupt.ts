/**
 * Corruptors for share files on a server's disk, one per field, as Tahoe's test grid has
 * (allmydata/test/common.py `_corrupt_*`): each flips one bit at a random byte inside one
 * field and nowhere else. Field ranges come from the share's own (still intact) headers and
 * the container layouts of server/containers.ts (immutable share data after a 12-byte
 * container header, mutable share data at 468):
 *
 *   immutable (tahoe-formats §2.10, §7.5): the container's version, data length and lease
 *     count; each field of the share header (version, block size, share data size and the
 *     six offsets); the blocks, the (unused) plaintext hash tree, the crypttext hash tree,
 *     the block hash tree, the share hash chain, the UEB length and the UEB.
 *   mutable (§4.6, §4.7, §7.5): the container's magic, write enabler and data length; each
 *     field of the signed prefix (version, seqnum, root hash, SDMF's salt/IV, k, N, segment
 *     size, data length); each offset; pubkey, signature, share hash chain, block hash tree,
 *     MDMF's per-segment salt, a block, encprivkey.
 *
 * Files are changed in place (same inode), so a server holding the file open reads the change.
 */
import fs from 'node:fs/promises';
import { type MutableShareLayout, parseHeader, segmentOffset } from '../../core/mutable/layout.ts';
import { SALT_BYTES } from '../../core/mutable/prefix.ts';
import { IMMUTABLE_HEADER_BYTES, MUTABLE_DATA_OFFSET } from '../../server/containers.ts';
import type { Random } from './faults.ts';

export interface FieldRange {
  readonly field: string;
  /** Byte offsets in the share file, [start, end). */
  readonly start: number;
  readonly end: number;
}

export const IMMUTABLE_FIELDS = [
  'container version',
  'container data length',
  'container lease count',
  'share version',
  'block size',
  'share data size',
  'data offset',
  'plaintext hash tree offset',
  'crypttext hash tree offset',
  'block hashes offset',
  'share hashes offset',
  'UEB offset',
  'blocks',
  'plaintext hash tree',
  'crypttext hash tree',
  'block hash tree',
  'share hash chain',
  'UEB length',
  'UEB',
] as const;

export const MUTABLE_FIELDS = [
  'container magic',
  'write enabler',
  'container data length',
  'version',
  'seqnum',
  'root hash',
  'salt',
  'k',
  'N',
  'segment size',
  'data length',
  'signature offset',
  'share hash chain offset',
  'block hash tree offset',
  'share data offset',
  'encprivkey offset',
  'EOF offset',
  'pubkey offset',
  'pubkey end offset',
  'pubkey',
  'signature',
  'share hash chain',
  'block hash tree',
  'block',
  'encprivkey',
] as const;

export type ImmutableField = (typeof IMMUTABLE_FIELDS)[number];
export type MutableField = (typeof MUTABLE_FIELDS)[number];

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at);

/** Every field of an immutable share file (container included), from its intact headers. */
export function immutableFieldRanges(file: Uint8Array): FieldRange[] {
  const h = IMMUTABLE_HEADER_BYTES;
  const dataLength = u32(file, 4);
  const version = u32(file, h);
  const v1 = version === 1;
  const w = v1 ? 4 : 8;
  const field = (i: number) => {
    const at = v1 ? 4 + 4 * i : 4 + 8 * i;
    return v1 ? u32(file, h + at) : Number(new DataView(file.buffer, file.byteOffset).getBigUint64(h + at));
  };
  const shareDataSize = field(1);
  const [dataOffset, plaintextTree, crypttextTree, blockHashes, shareHashes, ueb] = [2, 3, 4, 5, 6, 7].map(
    field,
  );
  // The corruptor must hit what it names: the offsets must be the ones §2.10 implies.
  if (dataOffset !== (v1 ? 0x24 : 0x44) || plaintextTree !== dataOffset + shareDataSize) {
    throw new Error('not an intact immutable share');
  }
  const uebLength = v1
    ? u32(file, h + ueb)
    : Number(new DataView(file.buffer, file.byteOffset).getBigUint64(h + ueb));
  const headerField = (name: ImmutableField, i: number): FieldRange => ({
    field: name,
    start: h + 4 + w * i,
    end: h + 4 + w * (i + 1),
  });
  const body = (name: ImmutableField, start: number, end: number): FieldRange => ({
    field: name,
    start: h + start,
    end: h + end,
  });
  const ranges: FieldRange[] = [
    { field: 'container version', start: 0, end: 4 },
    { field: 'container data length', start: 4, end: 8 },
    { field: 'container lease count', start: 8, end: 12 },
    { field: 'share version', start: h, end: h + 4 },
    headerField('block size', 0),
    headerField('share data size', 1),
    headerField('data offset', 2),
    headerField('plaintext hash tree offset', 3),
    headerField('crypttext hash tree offset', 4),
    headerField('block hashes offset', 5),
    headerField('share hashes offset', 6),
    headerField('UEB offset', 7),
    body('blocks', dataOffset, plaintextTree),
    body('plaintext hash tree', plaintextTree, crypttextTree),
    body('crypttext hash tree', crypttextTree, blockHashes),
    body('block hash tree', blockHashes, shareHashes),
    body('share hash chain', shareHashes, ueb),
    body('UEB length', ueb, ueb + w),
    body('UEB', ueb + w, ueb + w + uebLength),
  ];
  if (h + ueb + w + uebLength > dataLength + h) throw new Error('not an intact immutable share');
  return ranges;
}

/** Every field of a mutable share file (container included), from its intact headers. */
export function mutableFieldRanges(file: Uint8Array, rng?: Random): FieldRange[] {
  const d = MUTABLE_DATA_OFFSET;
  const data = file.subarray(d);
  const header = parseHeader(0, data);
  const { prefix, layout } = header;
  const sdmf = prefix.format === 'sdmf';
  const at = (field: MutableField, start: number, end: number): FieldRange => ({
    field,
    start: d + start,
    end: d + end,
  });
  const p = sdmf ? 57 : 41; // where k sits
  const ranges: FieldRange[] = [
    { field: 'container magic', start: 0, end: 32 },
    { field: 'write enabler', start: 52, end: 84 },
    { field: 'container data length', start: 84, end: 92 },
    at('version', 0, 1),
    at('seqnum', 1, 9),
    at('root hash', 9, 41),
    at('k', p, p + 1),
    at('N', p + 1, p + 2),
    at('segment size', p + 2, p + 10),
    at('data length', p + 10, p + 18),
  ];
  const offsets: [MutableField, number, number][] = sdmf
    ? [
        ['signature offset', 75, 4],
        ['share hash chain offset', 79, 4],
        ['block hash tree offset', 83, 4],
        ['share data offset', 87, 4],
        ['encprivkey offset', 91, 8],
        ['EOF offset', 99, 8],
      ]
    : (
        [
          'encprivkey offset',
          'share hash chain offset',
          'signature offset',
          'pubkey offset',
          'pubkey end offset',
          'share data offset',
          'block hash tree offset',
          'EOF offset',
        ] as const
      ).map((f, i) => [f, 59 + 8 * i, 8] as [MutableField, number, number]);
  for (const [f, start, len] of offsets) ranges.push(at(f, start, start + len));
  const l: MutableShareLayout = layout;
  ranges.push(
    at('pubkey', l.pubkey, l.pubkeyEnd),
    at('signature', l.signature, l.signature + 256),
    at('share hash chain', l.shareHashChain, sdmf ? l.blockHashTree : l.signature),
    at('block hash tree', l.blockHashTree, sdmf ? l.shareData : l.eof),
    at('encprivkey', l.encPrivKey, sdmf ? l.eof : l.shareHashChain),
  );
  if (prefix.numSegments > 0) {
    const s = rng ? rng.int(0, prefix.numSegments) : 0;
    const seg = segmentOffset(l, prefix, s);
    const blockEnd =
      s === prefix.numSegments - 1
        ? seg + (sdmf ? 0 : SALT_BYTES) + prefix.tailBlockSize
        : seg + (sdmf ? 0 : SALT_BYTES) + prefix.blockSize;
    if (sdmf) {
      ranges.push(at('salt', 41, 57), at('block', seg, blockEnd));
    } else {
      ranges.push(at('salt', seg, seg + SALT_BYTES), at('block', seg + SALT_BYTES, blockEnd));
    }
  } else if (sdmf) {
    ranges.push(at('salt', 41, 57));
  }
  return ranges;
}

export interface Flip {
  readonly field: string;
  readonly offset: number;
  readonly bit: number;
}

/** Flips bit `bit` of byte `offset` of `file`, in place. */
export async function flipBit(file: string, offset: number, bit: number): Promise<void> {
  const h = await fs.open(file, 'r+');
  try {
    const b = new Uint8Array(1);
    const { bytesRead } = await h.read(b, 0, 1, offset);
    if (bytesRead !== 1) throw new Error(`${file} has no byte ${offset}`);
    b[0] ^= 1 << bit;
    await h.write(b, 0, 1, offset);
  } finally {
    await h.close();
  }
}

/**
 * Flips one random bit of `field` in the share file at `file` (immutable or mutable, told
 * apart by the container). Returns where, so a test can say what it broke.
 */
export async function corruptField(file: string, field: string, rng: Random): Promise<Flip> {
  const bytes = new Uint8Array(await fs.readFile(file));
  const mutable =
    bytes.length >= MUTABLE_DATA_OFFSET &&
    new TextDecoder().decode(bytes.subarray(0, 26)) === 'Tahoe mutable container v2';
  const ranges = mutable ? mutableFieldRanges(bytes, rng) : immutableFieldRanges(bytes);
  const r = ranges.find((x) => x.field === field);
  if (!r) throw new Error(`no field '${field}' in ${mutable ? 'a mutable' : 'an immutable'} share`);
  if (r.end <= r.start) throw new Error(`field '${field}' is empty in this share`);
  const offset = rng.int(r.start, r.end);
  const bit = rng.int(0, 8);
  await flipBit(file, offset, bit);
  return { field, offset, bit };
}
