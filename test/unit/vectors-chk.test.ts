/**
 * Tahoe-LAFS's own CHK capability vectors (test/vectors/tahoe-capabilities.yaml): every
 * CHK entry's plaintext is built as test/vectors/README.md says, encoded with the node
 * backend and the wasm codec, and the cap must equal Tahoe's string.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { formatCap } from '../../core/caps/immutable.ts';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import { convergentKey } from '../../core/immutable/convergence.ts';
import { encodeChk } from '../../core/immutable/encoder.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { type ChkVector, readVectors, stretch } from '../vectors/read.ts';

const all = readVectors();
const version = all.version;
const vectors = all.vectors.filter((v): v is ChkVector => v.kind === 'chk');
let codec: Codec;
beforeAll(async () => {
  codec = await loadCodec();
});

describe('Tahoe CHK capability vectors', () => {
  it('reads the file format it knows, with 60 CHK vectors', () => {
    expect(version).toBe('2023-01-16.2');
    expect(vectors.length).toBe(60);
  });

  it.each(vectors.map((v, i) => [i, `${v.k}-of-${v.n}, ${v.length} bytes`, v] as const))(
    'vector %i (%s)',
    async (_i, _name, v) => {
      const params = { k: v.k, n: v.n, happy: 1, maxSegmentSize: v.segmentSize };
      const source = bytesSource(stretch(v.seed, v.length));
      const key = await convergentKey(source, params, v.convergence, nodeCrypto);
      let cap = '';
      for await (const step of encodeChk(source, params, key, { backend: nodeCrypto, codec })) {
        if (step.kind === 'done') cap = formatCap(step.cap);
      }
      expect(cap).toBe(v.expected);
    },
  );
});
