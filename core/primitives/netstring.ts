/** Netstrings: `<decimal length>:<bytes>,` (reference/tahoe-formats.md §1.2). */
import { CairnError } from '../errors.ts';
import { utf8 } from './bytes.ts';

export function netstring(data: Uint8Array): Uint8Array {
  const head = utf8(`${data.length}:`);
  const out = new Uint8Array(head.length + data.length + 1);
  out.set(head, 0);
  out.set(data, head.length);
  out[out.length - 1] = 0x2c; // ','
  return out;
}

/** Bytes that are not a well-formed netstring where one was expected. */
export class NetstringError extends CairnError {
  constructor(message: string) {
    super('BAD_NETSTRING', message);
  }
}

/** Longest length prefix read: 15 digits stay exact as a JS number and bound the scan. */
const MAX_DIGITS = 15;

/**
 * Reads the netstring that starts at `at`: its value (a view, not a copy) and the offset just
 * past its comma. Only the canonical spelling is accepted (digits without leading zeros), so
 * each value has one encoding; a length running past the end is refused before anything is
 * read, however large it claims to be.
 */
export function readNetstring(data: Uint8Array, at = 0): { value: Uint8Array; next: number } {
  let i = at;
  let length = 0;
  while (i < data.length && data[i] >= 0x30 && data[i] <= 0x39) {
    if (i - at === MAX_DIGITS) throw new NetstringError('a netstring length has too many digits');
    length = length * 10 + (data[i] - 0x30);
    i++;
  }
  if (i === at) {
    throw new NetstringError(
      i >= data.length ? 'a netstring is missing (the data ends)' : 'a netstring must start with its length',
    );
  }
  if (data[at] === 0x30 && i - at > 1) throw new NetstringError('a netstring length has a leading zero');
  if (i >= data.length || data[i] !== 0x3a) throw new NetstringError("a netstring length must end with ':'");
  const start = i + 1;
  if (length > data.length - start - 1) {
    throw new NetstringError(`a netstring claims ${length} bytes, more than the data holds`);
  }
  const end = start + length;
  if (data[end] !== 0x2c) throw new NetstringError("a netstring must end with ','");
  return { value: data.subarray(start, end), next: end + 1 };
}
