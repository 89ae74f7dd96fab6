/**
 * The URI extension block (reference/tahoe-formats.md §2.8): sorted `key:netstring(value)`
 * pairs. Its tagged hash is in the cap, so it authenticates everything else in a share.
 */
import { concatBytes, equalBytes, utf8 } from '../primitives/bytes.ts';
import { netstring } from '../primitives/netstring.ts';
import { TAG_UEB } from '../primitives/tags.ts';
import { taggedHash } from '../primitives/tagged-hash.ts';
import { UebError } from './errors.ts';
import type { SegmentGeometry } from './params.ts';

/** Readers refuse a UEB this long or longer (Tahoe's layout.py). */
export const MAX_UEB_LENGTH = 2000;

export interface UebFields {
  readonly segmentSize: number;
  readonly numSegments: number;
  readonly size: number;
  readonly neededShares: number;
  readonly totalShares: number;
  readonly codecParams: string;
  readonly tailCodecParams: string;
  readonly crypttextHash: Uint8Array;
  readonly crypttextRootHash: Uint8Array;
  readonly shareRootHash: Uint8Array;
}

/** The eleven keys, their values as bytes, in byte-wise sorted key order. */
function entries(
  g: SegmentGeometry,
  h: Pick<UebFields, 'crypttextHash' | 'crypttextRootHash' | 'shareRootHash'>,
) {
  const d = (v: number | string) => utf8(String(v));
  const pairs: [string, Uint8Array][] = [
    ['codec_name', d('crs')],
    ['codec_params', d(`${g.segmentSize}-${g.k}-${g.n}`)],
    ['crypttext_hash', h.crypttextHash],
    ['crypttext_root_hash', h.crypttextRootHash],
    ['needed_shares', d(g.k)],
    ['num_segments', d(g.numSegments)],
    ['segment_size', d(g.segmentSize)],
    ['share_root_hash', h.shareRootHash],
    ['size', d(g.size)],
    ['tail_codec_params', d(`${g.paddedTail}-${g.k}-${g.n}`)],
    ['total_shares', d(g.n)],
  ];
  return pairs;
}

export function serializeUeb(
  g: SegmentGeometry,
  hashes: Pick<UebFields, 'crypttextHash' | 'crypttextRootHash' | 'shareRootHash'>,
): Uint8Array {
  return concatBytes(...entries(g, hashes).flatMap(([key, value]) => [utf8(`${key}:`), netstring(value)]));
}

/** Length of the UEB for this geometry: known before any hash (needed to size shares). */
export function uebLength(g: SegmentGeometry): number {
  const zero = new Uint8Array(32);
  // Counted, not serialized: every upload plans its file a few times (keys are ASCII).
  let n = 0;
  for (const [key, value] of entries(g, {
    crypttextHash: zero,
    crypttextRootHash: zero,
    shareRootHash: zero,
  })) {
    n += key.length + 1 + String(value.length).length + 1 + value.length + 1;
  }
  return n;
}

export function uebHash(ueb: Uint8Array): Uint8Array {
  return taggedHash(TAG_UEB, ueb);
}

/** Split a UEB into key -> value. Unknown keys are kept (old Tahoe wrote plaintext hashes). */
export function parseUebEntries(ueb: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let i = 0;
  while (i < ueb.length) {
    const colon = ueb.indexOf(0x3a, i);
    if (colon < 0) throw new UebError('URI extension block: key without a value');
    const key = latin1(ueb.subarray(i, colon));
    if (!/^[a-zA-Z_-]+$/.test(key)) throw new UebError('URI extension block: malformed key');
    const colon2 = ueb.indexOf(0x3a, colon + 1);
    const lenText = colon2 < 0 ? '' : latin1(ueb.subarray(colon + 1, colon2));
    if (!/^(0|[1-9][0-9]{0,5})$/.test(lenText)) {
      throw new UebError(`URI extension block: bad length for ${key}`);
    }
    const start = colon2 + 1;
    const end = start + Number(lenText);
    if (end >= ueb.length || ueb[end] !== 0x2c) {
      throw new UebError(`URI extension block: value of ${key} is not terminated`);
    }
    if (out.has(key)) throw new UebError(`URI extension block: duplicate key ${key}`);
    out.set(key, ueb.subarray(start, end));
    i = end + 1;
  }
  return out;
}

export function parseUeb(ueb: Uint8Array): UebFields {
  const m = parseUebEntries(ueb);
  const get = (key: string) => {
    const v = m.get(key);
    if (!v) throw new UebError(`URI extension block: ${key} is missing`);
    return v;
  };
  const int = (key: string) => {
    const text = latin1(get(key));
    if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) {
      throw new UebError(`URI extension block: ${key} is not a number`);
    }
    return Number(text);
  };
  const hash = (key: string) => {
    const v = get(key);
    if (v.length !== 32) throw new UebError(`URI extension block: ${key} is not 32 bytes`);
    return v;
  };
  if (!equalBytes(get('codec_name'), utf8('crs')))
    throw new UebError('URI extension block: codec is not crs');
  return {
    segmentSize: int('segment_size'),
    numSegments: int('num_segments'),
    size: int('size'),
    neededShares: int('needed_shares'),
    totalShares: int('total_shares'),
    codecParams: latin1(get('codec_params')),
    tailCodecParams: latin1(get('tail_codec_params')),
    crypttextHash: hash('crypttext_hash'),
    crypttextRootHash: hash('crypttext_root_hash'),
    shareRootHash: hash('share_root_hash'),
  };
}

function latin1(b: Uint8Array): string {
  return String.fromCharCode(...b);
}
