/**
 * Tahoe-LAFS's own CHK capability vectors (../shared/vectors/tahoe-capabilities.yaml):
 * every CHK entry's plaintext is built as the README there says, encoded with the node
 * backend and the wasm codec, and the cap must equal Tahoe's string.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatCap } from '../../core/caps/immutable.ts';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import { convergentKey } from '../../core/immutable/convergence.ts';
import { encodeChk } from '../../core/immutable/encoder.ts';
import { bytesSource } from '../../core/immutable/source.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';

const VECTORS = fileURLToPath(new URL('../../../shared/vectors/tahoe-capabilities.yaml', import.meta.url));

interface ChkVector {
  convergence: Uint8Array;
  expected: string;
  seed: Uint8Array;
  length: number;
  k: number;
  n: number;
  segmentSize: number;
}

/**
 * The file is YAML with a fixed, regular shape (one `- convergence:` item per vector); CHK
 * items have only scalar fields, so a field-by-field reader is enough and fails loudly.
 */
function readChkVectors(text: string): { version: string; vectors: ChkVector[] } {
  const version = /^version: (\S+)$/m.exec(text)?.[1] ?? '';
  const items = text.split(/^- /m).slice(1);
  const vectors: ChkVector[] = [];
  for (const item of items) {
    if (!/^\s+kind: chk$/m.test(item)) continue;
    const field = (re: RegExp) => {
      const m = re.exec(item);
      if (!m) throw new Error(`vector field ${re} missing in:\n${item}`);
      return m[1];
    };
    const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
    vectors.push({
      convergence: b64(field(/^convergence: (\S+)$/m)),
      expected: field(/^\s+expected: (\S+)$/m),
      seed: b64(field(/^\s+seed: (\S+)$/m)),
      length: Number(field(/^\s+length: (\d+)$/m)),
      k: Number(field(/^\s+required: (\d+)$/m)),
      n: Number(field(/^\s+total: (\d+)$/m)),
      segmentSize: Number(field(/^\s+segmentSize: (\d+)$/m)),
    });
  }
  return { version, vectors };
}

/** `(seed * (length // len(seed) + 1))[:length]` */
function stretch(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let off = 0; off < length; off += seed.length)
    out.set(seed.subarray(0, Math.min(seed.length, length - off)), off);
  return out;
}

const { version, vectors } = readChkVectors(readFileSync(VECTORS, 'utf8'));
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
