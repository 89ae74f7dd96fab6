/**
 * Reads test/vectors/tahoe-capabilities.yaml (see README.md). The file is YAML of one fixed,
 * regular shape (one `- convergence:` item per vector), so a field-by-field reader is enough
 * and fails loudly on anything else.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FILE = fileURLToPath(new URL('./tahoe-capabilities.yaml', import.meta.url));

export interface ChkVector {
  kind: 'chk';
  convergence: Uint8Array;
  expected: string;
  seed: Uint8Array;
  length: number;
  k: number;
  n: number;
  segmentSize: number;
}

export interface SskVector {
  kind: 'ssk';
  format: 'sdmf' | 'mdmf';
  /** The PEM text as the vector file gives it (PKCS#1, "BEGIN RSA PRIVATE KEY"). */
  pem: string;
  expected: string;
  k: number;
  n: number;
}

export type Vector = ChkVector | SskVector;

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

export function readVectors(): { version: string; vectors: Vector[] } {
  const text = readFileSync(FILE, 'utf8');
  const version = /^version: (\S+)$/m.exec(text)?.[1] ?? '';
  const vectors: Vector[] = [];
  for (const item of text.split(/^- /m).slice(1)) {
    const field = (re: RegExp) => {
      const m = re.exec(item);
      if (!m) throw new Error(`vector field ${re} missing in:\n${item}`);
      return m[1];
    };
    const kind = field(/^\s+kind: (\S+)$/m);
    const common = {
      expected: field(/^\s+expected: (\S+)$/m),
      k: Number(field(/^\s+required: (\d+)$/m)),
      n: Number(field(/^\s+total: (\d+)$/m)),
    };
    if (kind === 'chk') {
      vectors.push({
        kind,
        ...common,
        convergence: b64(field(/^convergence: (\S+)$/m)),
        seed: b64(field(/^\s+seed: (\S+)$/m)),
        length: Number(field(/^\s+length: (\d+)$/m)),
        segmentSize: Number(field(/^\s+segmentSize: (\d+)$/m)),
      });
    } else if (kind === 'ssk') {
      const format = field(/^\s+format: (sdmf|mdmf)$/m) as 'sdmf' | 'mdmf';
      // A single-quoted YAML scalar: blank lines are the PEM's newlines.
      const body = field(/-----BEGIN RSA PRIVATE KEY-----([\s\S]*?)-----END RSA PRIVATE KEY-----/);
      const lines = body
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0);
      const pem = ['-----BEGIN RSA PRIVATE KEY-----', ...lines, '-----END RSA PRIVATE KEY-----', ''].join(
        '\n',
      );
      vectors.push({ kind, format, pem, ...common });
    } else {
      throw new Error(`unknown vector kind ${kind}`);
    }
  }
  return { version, vectors };
}

/** `(seed * (length // len(seed) + 1))[:length]` */
export function stretch(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let off = 0; off < length; off += seed.length)
    out.set(seed.subarray(0, Math.min(seed.length, length - off)), off);
  return out;
}
