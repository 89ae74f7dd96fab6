/**
 * Tahoe's DIR2 directory format (reference/tahoe-formats.md §5): children packed to and from
 * bytes, the metadata Tahoe keeps on links, Python-exact JSON, and the encrypted write caps
 * that keep a directory transitively read-only. Pure functions: bytes and values in and out.
 */
export {
  type DirField,
  DirectoryChildError,
  DirectoryFormatError,
  JsonValueError,
} from './errors.ts';
export { type JsonValue, type Metadata, parseMetadata, pythonFloatRepr, pythonJson } from './json.ts';
export { updateMetadata } from './metadata.ts';
export {
  compareNames,
  type DirChild,
  type DirectoryKeys,
  directoryKeysOf,
  packDirectory,
  type SkippedEntry,
  type UnpackedDirectory,
  unpackDirectory,
} from './pack.ts';
export { readOnlyChildren } from './readonly.ts';
export { decryptRwCap, encryptRwCap, RWCAPDATA_MIN, tahoeHmac } from './rwcap.ts';
