/**
 * Whole shares in memory: collect an encoder's writes into buffers, and read shares back
 * from buffers. For the CLI's local tools and for tests; memory grows with the file.
 */
import type { ChkCap, LitCap } from '../caps/immutable.ts';
import type { ChkParams } from './params.ts';
import type { ShareReader } from './decoder.ts';
import { type ChkStep, type EncodeTools, encodeChk } from './encoder.ts';
import { planChk } from './plan.ts';
import type { PlaintextSource } from './source.ts';
import type { AesKey } from '../types.ts';

export interface EncodedFile {
  readonly cap: ChkCap | LitCap;
  /** Share bytes by share number (empty for a LIT file). */
  readonly shares: Uint8Array[];
}

/** Run the encoder and apply its writes to N share buffers. */
export async function encodeToShares(
  source: PlaintextSource,
  params: ChkParams,
  key: AesKey,
  tools: EncodeTools,
): Promise<EncodedFile> {
  const plan = planChk(source.size, params);
  const shares =
    plan.kind === 'chk' ? Array.from({ length: plan.n }, () => new Uint8Array(plan.shareSize)) : [];
  let cap: ChkCap | LitCap | undefined;
  for await (const step of encodeChk(source, params, key, tools) as AsyncGenerator<ChkStep>) {
    for (const w of step.writes) shares[w.shnum].set(w.data, w.offset);
    if (step.kind === 'segment') step.release(); // copied: the encoder may reuse the memory
    if (step.kind === 'done') cap = step.cap;
  }
  if (!cap) throw new Error('encoder ended without a cap');
  return { cap, shares };
}

/** A ShareReader over share buffers (missing entries are simply not offered). */
export function memoryShareReader(shares: ReadonlyMap<number, Uint8Array>): ShareReader {
  return {
    shnums: [...shares.keys()].sort((a, b) => a - b),
    async read(shnum, offset, length) {
      const share = shares.get(shnum);
      if (!share) throw new Error(`no share ${shnum}`);
      return share.subarray(offset, offset + length);
    },
  };
}
