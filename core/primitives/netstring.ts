/** Netstrings: `<decimal length>:<bytes>,` (reference/tahoe-formats.md §1.2). */
import { utf8 } from './bytes.ts';

export function netstring(data: Uint8Array): Uint8Array {
  const head = utf8(`${data.length}:`);
  const out = new Uint8Array(head.length + data.length + 1);
  out.set(head, 0);
  out.set(data, head.length);
  out[out.length - 1] = 0x2c; // ','
  return out;
}
