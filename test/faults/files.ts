/**
 * The three kinds of file every fault scenario runs with, through the client API people use
 * (core/client Grid): CHK via grid.upload, MDMF and SDMF via grid.createMutable and
 * openMutable(cap).overwrite, all read back with grid.open(cap).read(). And the one rule every
 * run ends by: the bytes read are exactly the ones written, or the failure is a CairnError
 * with a code; never other bytes.
 */
import { expect } from 'vitest';
import { type Grid, readAll } from '../../core/client/index.ts';
import { CairnError } from '../../core/errors.ts';
import type { ChkParams } from '../../core/immutable/params.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { pattern } from '../harness/bytes.ts';

export type Kind = 'chk' | 'mdmf' | 'sdmf';
export const KINDS: readonly Kind[] = ['chk', 'mdmf', 'sdmf'];

/** CHK on a 7-server grid: any 3 shares read it, an upload needs 5 servers. */
export const CHK_PARAMS: ChkParams = { k: 3, happy: 5, n: 7, maxSegmentSize: 128 * 1024 };

/** Sizes that make every kind span many requests: 16 CHK segments, 9 MDMF segments, one SDMF block. */
export const SIZES: Record<Kind, number> = {
  chk: 2 * 1024 * 1024 + 123,
  mdmf: 1024 * 1024 + 45,
  sdmf: 300_001,
};

let seed = 1;
/** Fresh contents for a new file or version (different every call). */
export function contents(kind: Kind, scale = 1): Uint8Array {
  return pattern(Math.max(56, Math.floor(SIZES[kind] * scale)), seed++);
}

export interface Stored {
  readonly kind: Kind;
  /** The cap that writes (mutable) or reads (CHK). */
  readonly cap: string;
  /** The read cap. */
  readonly readCap: string;
}

/** Stores a new file; `onProgress(done, total)` reports share bytes (mutable) or plaintext acked (CHK). */
export async function store(
  grid: Grid,
  kind: Kind,
  data: Uint8Array,
  onProgress?: (done: number, total: number) => void,
): Promise<Stored> {
  if (kind === 'chk') {
    const r = await grid.upload(bytesSource(data), {
      params: CHK_PARAMS,
      convergent: false,
      onProgress: (p) => onProgress?.(p.acked, p.total),
    });
    return { kind, cap: r.node.cap, readCap: r.node.readCap! };
  }
  const node = await grid.createMutable(data, { format: kind, onProgress });
  return { kind, cap: node.cap, readCap: node.readCap! };
}

/** A new version of a mutable file. */
export async function replace(
  grid: Grid,
  file: Stored,
  data: Uint8Array,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  await grid.openMutable(file.cap).overwrite(data, { onProgress });
}

/** Reads a file whole; `onChunk(bytesSoFar)` after every piece. */
export async function readBack(
  grid: Grid,
  cap: string,
  onChunk?: (bytesSoFar: number) => void,
): Promise<Uint8Array> {
  if (!onChunk) return readAll(grid.open(cap));
  const parts: Uint8Array[] = [];
  let got = 0;
  for await (const c of grid.open(cap).read()) {
    parts.push(c.slice());
    got += c.length;
    onChunk(got);
  }
  return Buffer.concat(parts);
}

/** The error is one Cairn reports on purpose: a CairnError with one of `codes`. */
export function expectTyped(err: unknown, codes: readonly string[], what: string): void {
  if (!(err instanceof CairnError)) {
    expect.fail(
      `${what}: failed with ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}, not a CairnError`,
    );
  }
  expect(codes, `${what}: ${err.name} [${err.code}] ${err.message}`).toContain(err.code);
}

/** `got` is exactly one of `candidates` (whole versions); returns which. */
export function expectOneOf(got: Uint8Array, candidates: readonly Uint8Array[], what: string): number {
  const i = candidates.findIndex((c) => Buffer.from(c).equals(Buffer.from(got)));
  if (i < 0) {
    expect.fail(
      `${what}: read ${got.length} bytes that are none of the ${candidates.length} version(s) written (sizes ${candidates.map((c) => c.length).join(', ')})`,
    );
  }
  return i;
}
