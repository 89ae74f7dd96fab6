/**
 * File contents for the load bench, made from a seed so any process can regenerate and check
 * them without holding them: the AES-128-CTR keystream of a key derived from the seed (fast,
 * native, incompressible). A checker compares a download chunk by chunk against the same
 * stream, so a byte-exact comparison costs no copy of the file in memory.
 */
import { createCipheriv, createHash } from 'node:crypto';

function cipherAt(seed: number, offset: number) {
  const key = createHash('sha256').update(`cairn-load-${seed}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  // Counter = block index; the 16-byte block of `offset` (offsets here are multiples of 16 or 0).
  iv.writeUIntBE(Math.floor(offset / 16), 10, 6);
  return createCipheriv('aes-128-ctr', key, iv);
}

/** The whole content of (seed, size). */
export function contentOf(seed: number, size: number): Uint8Array {
  const c = cipherAt(seed, 0);
  const out = c.update(Buffer.alloc(size));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Checks a stream of chunks against (seed, size); returns null when equal, else what differs. */
export class ContentChecker {
  private readonly cipher;
  private at = 0;
  private firstDiff: number | null = null;

  constructor(
    seed: number,
    private readonly size: number,
  ) {
    this.cipher = cipherAt(seed, 0);
  }

  push(chunk: Uint8Array): void {
    const n = Math.min(chunk.length, Math.max(0, this.size - this.at));
    if (n > 0) {
      const want = this.cipher.update(Buffer.alloc(n));
      const got = Buffer.from(chunk.buffer, chunk.byteOffset, n);
      if (this.firstDiff === null && !got.equals(want)) {
        let i = 0;
        while (got[i] === want[i]) i++;
        this.firstDiff = this.at + i;
      }
    }
    this.at += chunk.length;
  }

  /** null when the stream was exactly the content, else a description of the difference. */
  result(): string | null {
    if (this.firstDiff !== null) return `bytes differ from offset ${this.firstDiff}`;
    if (this.at !== this.size) return `${this.at} bytes read, ${this.size} expected`;
    return null;
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
