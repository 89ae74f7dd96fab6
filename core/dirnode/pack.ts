/**
 * A directory's contents as bytes (reference/tahoe-formats.md §5.1), byte for byte as Tahoe's
 * dirnode.py `pack_children` writes them and `_unpack_contents` reads them:
 *
 *   contents = netstring(entry) for each child, sorted by name (NFC, code-point order)
 *   entry    = netstring(name) || netstring(ro_uri) || netstring(rwcapdata) || netstring(metadata)
 *
 * Caps stay text here: a directory may hold kinds this release does not know (a later
 * release's caps), and keeps them. Known kinds are checked and written in canonical form.
 *
 * Where Tahoe's reader is lenient and Cairn is not, or differs, it is on purpose:
 * - framing is strict (canonical netstring lengths, nothing after an entry's fourth field,
 *   a mutable directory's rwcapdata at least 48 bytes); Tahoe never writes otherwise;
 * - a cap in the ro_uri slot must not be a write cap: Tahoe hands such a cap to read-only
 *   holders, Cairn skips the child, so a directory stays transitively read-only even if a
 *   writer put a write cap in the wrong slot;
 * - verify caps are known kinds here (Tahoe's node maker treats most as unknown);
 * - a cap slot that is not UTF-8 skips the child (Tahoe keeps the bytes as an unknown cap);
 * - metadata must be JSON that JSON.parse reads (Python also reads NaN and Infinity) and is
 *   parsed for every entry (Tahoe parses it only for children it keeps).
 * Where Tahoe is lenient on purpose, Cairn matches it: the MAC is not checked; a child whose
 * cap is malformed or breaks a claim is skipped (reported in `skipped`), not fatal; duplicate
 * names (also two spellings with one NFC form) are not an error: the last entry wins, as in
 * the Python dict Tahoe reads into.
 */
import { concatBytes, fromUtf8, utf8 } from '../primitives/bytes.ts';
import { netstring, NetstringError, readNetstring } from '../primitives/netstring.ts';
import type { WriteKey } from '../mutable/keys.ts';
import {
  type CapClaim,
  type Capability,
  CapError,
  type DirectoryCap,
  formatCapability,
  isKnownCapKind,
  isMutableDirectory,
  isWritable,
  parseAllegedCap,
  readOnlyOf,
  stripClaim,
} from '../caps/index.ts';
import { InputError } from '../errors.ts';
import { type DirField, DirectoryChildError, DirectoryFormatError, JsonValueError } from './errors.ts';
import { type Metadata, parseMetadata, pythonJson } from './json.ts';
import { decryptRwCap, encryptRwCap, RWCAPDATA_MIN } from './rwcap.ts';

/** One child of a directory. */
export interface DirChild {
  /** NFC-normalised. */
  readonly name: string;
  /**
   * The child's write cap, when it has one and the reader holds the directory's write key;
   * null otherwise. Canonical text for kinds Cairn knows, the stored text for other kinds.
   */
  readonly writeCap: string | null;
  /**
   * The child's read-only cap (for a writable child, the read-only form of its write cap), or
   * null. Caps of kinds Cairn does not know carry the claim of the slot they came from, as
   * Tahoe shows them: `ro.` in a mutable directory, `imm.` in an immutable one.
   */
  readonly readCap: string | null;
  readonly metadata: Metadata;
  /**
   * The entry's bytes as read, kept only for holders of the write key (who may repack).
   * packDirectory writes them again unchanged while the child still reads back the same, as
   * Tahoe does, so changing one child leaves every other entry's bytes exactly as they were
   * (including JSON that JS values cannot spell, such as Python's `2.0`).
   */
  readonly entry?: Uint8Array;
}

/** A child that was read but is not listed, and why (the reason never quotes the cap). */
export interface SkippedEntry {
  readonly entry: number;
  readonly name: string;
  readonly reason: string;
}

export interface UnpackedDirectory {
  /** By name, in the order of the data; a later entry with the same name replaces an earlier one. */
  readonly children: Map<string, DirChild>;
  readonly skipped: SkippedEntry[];
}

/** What reading a directory needs to know about it. */
export interface DirectoryKeys {
  /** SSK/MDMF-backed (entries carry rwcapdata) rather than CHK/LIT-backed. */
  readonly mutable: boolean;
  /** The backing file's write key: present only for write caps of mutable directories. */
  readonly writeKey: WriteKey | null;
}

export function directoryKeysOf(cap: DirectoryCap): DirectoryKeys {
  return {
    mutable: isMutableDirectory(cap),
    writeKey: cap.file.kind === 'ssk-write' ? cap.file.writeKey : null,
  };
}

/** Code-point order, as Python sorts str (JS's default sort compares UTF-16 units instead). */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800..DFFF, lead units of code points beyond the BMP) sort after U+E000..FFFF.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

// ---- caps in entries -----------------------------------------------------------------------

type Resolved = { writeCap: string | null; readCap: string | null } | { skip: string };

/**
 * The child's caps from its two slots (trailing spaces already stripped, empty = null), as
 * Tahoe's NodeMaker.create_from_cap and UnknownNode make a node of them. A known kind is
 * built from one cap, the write cap if any (the other slot is then ignored: the read cap is
 * derived). Unknown kinds are kept as text with their slot's claim.
 */
function resolveCaps(rw: string | null, ro: string | null, immutableDir: boolean): Resolved {
  const big = rw ?? ro;
  if (big === null) return { writeCap: null, readCap: null };
  if (isKnownCapKind(big)) {
    // The ro_uri slot claims read-only (Cairn's rule, see the top); an immutable directory, immutable.
    const context: CapClaim | null = immutableDir ? 'immutable' : rw === null ? 'read-only' : null;
    const parsed = alleged(big, context);
    if ('skip' in parsed) return parsed;
    const cap = parsed.cap;
    if (isWritable(cap))
      return { writeCap: formatCapability(cap), readCap: formatCapability(readOnlyOf(cap)) };
    return { writeCap: null, readCap: formatCapability(readOnlyOf(cap) ?? cap) };
  }
  let write = rw;
  let read = ro;
  if (write !== null) {
    if (read === null) {
      // An unknown cap alone in the write slot can only be shown if it claims to be read-only.
      if (stripClaim(write).claim === null)
        return { skip: 'a cap of an unknown kind with no read-only form' };
      read = write;
      write = null;
    } else if (stripClaim(read).claim === 'immutable') {
      return { skip: 'a write cap beside a cap marked immutable' };
    }
  }
  if (read === null) return { writeCap: write, readCap: null };
  if (isKnownCapKind(read)) {
    const parsed = alleged(read, immutableDir ? 'immutable' : 'read-only');
    if ('skip' in parsed) return parsed;
  }
  const { text, claim } = stripClaim(read);
  const readCap = immutableDir ? `imm.${text}` : claim === null ? `ro.${read}` : read; // already claims read-only or more
  return { writeCap: write, readCap };
}

/** parseAllegedCap, with a refusal as a reason to skip the child (CapError messages hold no cap). */
function alleged(text: string, context: CapClaim | null): { cap: Capability } | { skip: string } {
  try {
    return { cap: parseAllegedCap(text, context).cap };
  } catch (err) {
    if (err instanceof CapError) return { skip: err.message };
    throw err;
  }
}

/** What Tahoe's strip_prefix_for_ro stores in the ro_uri slot: `ro.` always goes, `imm.` only where implied. */
function roSlotText(readCap: string, immutableDir: boolean): string {
  const { text, claim } = stripClaim(readCap);
  return claim === 'read-only' || (claim === 'immutable' && immutableDir) ? text : readCap;
}

// ---- reading ------------------------------------------------------------------------------

/** Tahoe strips trailing spaces only (not other whitespace); empty means "no cap". */
function capSlot(bytes: Uint8Array): string | null | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0x20) end--;
  if (end === 0) return null;
  try {
    return fromUtf8(bytes.subarray(0, end));
  } catch {
    return undefined; // not text: no cap Cairn could use or show
  }
}

type ReadEntry =
  | { name: string; writeCap: string | null; readCap: string | null; metadata: Metadata }
  | { name: string; skip: string };

const FIELDS: DirField[] = ['name', 'ro_uri', 'rwcapdata', 'metadata'];

function readEntry(entry: Uint8Array, index: number, keys: DirectoryKeys): ReadEntry {
  const fields: Uint8Array[] = [];
  let at = 0;
  for (const field of FIELDS) {
    try {
      const { value, next } = readNetstring(entry, at);
      fields.push(value);
      at = next;
    } catch (err) {
      if (err instanceof NetstringError) throw new DirectoryFormatError(index, field, err.message);
      throw err;
    }
  }
  if (at !== entry.length) throw new DirectoryFormatError(index, 'entry', 'bytes follow the metadata field');
  const [nameBytes, roBytes, rwcapdata, metadataBytes] = fields;

  if (!keys.mutable && rwcapdata.length > 0) {
    throw new DirectoryFormatError(
      index,
      'rwcapdata',
      'an immutable directory holds no write caps, but this field is not empty',
    );
  }
  if (keys.mutable && rwcapdata.length < RWCAPDATA_MIN) {
    throw new DirectoryFormatError(
      index,
      'rwcapdata',
      `must be at least ${RWCAPDATA_MIN} bytes, not ${rwcapdata.length}`,
    );
  }
  let name: string;
  try {
    name = fromUtf8(nameBytes).normalize('NFC');
  } catch {
    throw new DirectoryFormatError(index, 'name', 'not UTF-8');
  }
  let metadata: Metadata;
  try {
    metadata = parseMetadata(fromUtf8(metadataBytes));
  } catch (err) {
    if (err instanceof JsonValueError) throw new DirectoryFormatError(index, 'metadata', err.message);
    throw new DirectoryFormatError(index, 'metadata', 'not UTF-8');
  }

  const ro = capSlot(roBytes);
  const rw = keys.mutable && keys.writeKey !== null ? capSlot(decryptRwCap(keys.writeKey, rwcapdata)) : null;
  if (ro === undefined || rw === undefined) return { name, skip: 'a cap that is not UTF-8 text' };
  const caps = resolveCaps(rw, ro, !keys.mutable);
  if ('skip' in caps) return { name, skip: caps.skip };
  return { name, ...caps, metadata };
}

/**
 * Reads a directory's contents. `keys.writeKey` (write-cap holders of mutable directories)
 * also decrypts each child's write cap; without it children show read caps only.
 * Throws DirectoryFormatError for bytes that are not a directory; children that cannot be
 * used are listed in `skipped` (as Tahoe drops them) rather than failing the whole directory.
 */
export function unpackDirectory(data: Uint8Array, keys: DirectoryKeys): UnpackedDirectory {
  if (!keys.mutable && keys.writeKey !== null) {
    throw new InputError('an immutable directory has no write key');
  }
  const children = new Map<string, DirChild>();
  const skipped: SkippedEntry[] = [];
  let at = 0;
  for (let index = 0; at < data.length; index++) {
    let entry: Uint8Array;
    try {
      ({ value: entry, next: at } = readNetstring(data, at));
    } catch (err) {
      if (err instanceof NetstringError) throw new DirectoryFormatError(index, 'entry', err.message);
      throw err;
    }
    const child = readEntry(entry, index, keys);
    if ('skip' in child) {
      skipped.push({ entry: index, name: child.name, reason: child.skip });
      continue;
    }
    // Only a writer repacks, so only a writer keeps the bytes (they hold the encrypted write cap).
    children.set(child.name, keys.writeKey !== null ? { ...child, entry } : child);
  }
  return { children, skipped };
}

// ---- writing ------------------------------------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** The slots of a child as given to the packer, checked; throws DirectoryChildError. */
function childSlots(child: DirChild, index: number, immutableDir: boolean): { rw: string; ro: string } {
  const fail = (field: DirField, message: string) => new DirectoryChildError(index, field, message);
  const { writeCap, readCap } = child;
  if (writeCap !== null && typeof writeCap !== 'string') throw fail('writeCap', 'must be a string or null');
  if (readCap !== null && typeof readCap !== 'string') throw fail('readCap', 'must be a string or null');
  if (writeCap !== null && immutableDir) {
    throw fail('writeCap', 'an immutable directory cannot hold a write cap');
  }
  const check = (text: string, field: DirField, context: CapClaim | null) => {
    if (!isKnownCapKind(text)) return null;
    try {
      return parseAllegedCap(text, context).cap;
    } catch (err) {
      if (err instanceof CapError) throw fail(field, err.message);
      throw err;
    }
  };
  const write = writeCap === null ? null : check(writeCap, 'writeCap', null);
  const read = readCap === null ? null : check(readCap, 'readCap', immutableDir ? 'immutable' : 'read-only');
  if (write && !isWritable(write)) throw fail('writeCap', 'holds a cap that cannot write');
  if (write && read && formatCapability(readOnlyOf(write)) !== formatCapability(read)) {
    throw fail('readCap', 'is not the read-only form of writeCap');
  }
  const caps = resolveCaps(writeCap, readCap, immutableDir);
  if ('skip' in caps) throw fail(writeCap !== null ? 'writeCap' : 'readCap', caps.skip);
  return { rw: caps.writeCap ?? '', ro: caps.readCap === null ? '' : roSlotText(caps.readCap, immutableDir) };
}

/** The entry `child` was read from, if it still reads back as `child` under these keys. */
function reusableEntry(child: DirChild, name: string, keys: DirectoryKeys, json: string): Uint8Array | null {
  if (!(child.entry instanceof Uint8Array)) return null;
  let again: ReadEntry;
  try {
    again = readEntry(child.entry, 0, keys);
  } catch (err) {
    if (err instanceof DirectoryFormatError) return null;
    throw err;
  }
  if ('skip' in again) return null;
  const same =
    again.name === name &&
    again.writeCap === child.writeCap &&
    again.readCap === child.readCap &&
    pythonJson(again.metadata) === json;
  return same ? child.entry : null;
}

/**
 * Packs children into a directory's contents. `writeKey` is the write key of a mutable
 * directory's backing file (each child's write cap is encrypted under it); null packs an
 * immutable directory, whose children must all be immutable (CHK, LIT, DIR2-CHK, DIR2-LIT,
 * or unknown kinds marked `imm.`). Names are NFC-normalised and must be unique after that.
 * Throws DirectoryChildError naming the child's index and field.
 */
export function packDirectory(children: Iterable<DirChild>, writeKey: WriteKey | null): Uint8Array {
  const keys: DirectoryKeys = { mutable: writeKey !== null, writeKey };
  const packed: { key: Uint8Array; index: number; bytes: Uint8Array }[] = [];
  let index = 0;
  for (const child of children) {
    if (typeof child.name !== 'string') throw new DirectoryChildError(index, 'name', 'must be a string');
    if (LONE_SURROGATE.test(child.name)) {
      throw new DirectoryChildError(index, 'name', 'is not valid Unicode (it has a lone surrogate)');
    }
    const name = child.name.normalize('NFC');
    const nameBytes = utf8(name);
    const { metadata } = child;
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new DirectoryChildError(index, 'metadata', 'must be an object');
    }
    let json: string;
    try {
      json = pythonJson(metadata);
    } catch (err) {
      if (err instanceof JsonValueError) throw new DirectoryChildError(index, 'metadata', err.message);
      throw err;
    }
    const { rw, ro } = childSlots(child, index, !keys.mutable);
    let entry = reusableEntry(child, name, keys, json);
    if (entry === null) {
      const rwcapdata = writeKey === null ? new Uint8Array(0) : encryptRwCap(writeKey, utf8(rw));
      entry = concatBytes(
        netstring(nameBytes),
        netstring(utf8(ro)),
        netstring(rwcapdata),
        netstring(utf8(json)),
      );
    }
    packed.push({ key: nameBytes, index, bytes: netstring(entry) });
    index++;
  }
  // UTF-8 byte order is code-point order, the order Python sorts names in.
  packed.sort((a, b) => compareBytes(a.key, b.key));
  for (let i = 1; i < packed.length; i++) {
    if (compareBytes(packed[i - 1].key, packed[i].key) === 0) {
      throw new DirectoryChildError(
        Math.max(packed[i - 1].index, packed[i].index),
        'name',
        'another child has the same name (after NFC normalisation)',
      );
    }
  }
  return concatBytes(...packed.map((p) => p.bytes));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
