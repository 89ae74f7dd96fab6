/**
 * A streaming ZIP writer for folder downloads: entries stored (no compression: the files are
 * often already compressed, and storing keeps the size known in advance), each followed by a
 * data descriptor carrying the CRC-32 computed as the bytes pass, then the central directory.
 * Names are UTF-8 (flag bit 11). Pure functions over bytes; the caller streams.
 * Entries and archives stay below 4 GiB (no ZIP64), which `zipSize` checks up front.
 */

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Continues a CRC-32 (start with 0) over `bytes`. */
export function crc32(crc: number, bytes: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const LOCAL_HEADER = 30;
const DESCRIPTOR = 16;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const FLAGS = 0x0808; // bit 3: sizes and CRC in the data descriptor; bit 11: UTF-8 names
const LIMIT = 0xffffffff;

export interface ZipEntry {
  /** Path inside the archive, '/'-separated. */
  path: string;
  size: number;
}

export interface WrittenEntry extends ZipEntry {
  crc: number;
  offset: number;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** The archive's exact size, or an error when it would need ZIP64. */
export function zipSize(entries: readonly ZipEntry[]): number {
  let total = END_RECORD;
  for (const e of entries) {
    const name = utf8(e.path).length;
    total += LOCAL_HEADER + name + e.size + DESCRIPTOR + CENTRAL_HEADER + name;
    if (e.size >= LIMIT)
      throw new Error(`'${e.path}' is 4 GiB or larger: a .zip without ZIP64 cannot hold it`);
  }
  if (total >= LIMIT) throw new Error('the folder is 4 GiB or larger: download its files one by one');
  if (entries.length > 0xffff)
    throw new Error('the folder holds more than 65,535 files: download it in parts');
  return total;
}

// MS-DOS time of 1980-01-01 00:00: a fixed date keeps the archive byte-stable.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

export function localHeader(path: string): Uint8Array {
  const name = utf8(path);
  const b = new Uint8Array(LOCAL_HEADER + name.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, 20, true); // version needed
  v.setUint16(6, FLAGS, true);
  v.setUint16(8, 0, true); // stored
  v.setUint16(10, DOS_TIME, true);
  v.setUint16(12, DOS_DATE, true);
  // CRC and sizes 0 here: they follow the data in the descriptor (flag bit 3).
  v.setUint16(26, name.length, true);
  b.set(name, LOCAL_HEADER);
  return b;
}

export function dataDescriptor(crc: number, size: number): Uint8Array {
  const b = new Uint8Array(DESCRIPTOR);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x08074b50, true);
  v.setUint32(4, crc, true);
  v.setUint32(8, size, true);
  v.setUint32(12, size, true);
  return b;
}

/** The central directory and end record, after every entry's data. */
export function centralDirectory(entries: readonly WrittenEntry[], offset: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const e of entries) {
    const name = utf8(e.path);
    const b = new Uint8Array(CENTRAL_HEADER + name.length);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 20, true); // made by
    v.setUint16(6, 20, true); // needed
    v.setUint16(8, FLAGS, true);
    v.setUint16(10, 0, true);
    v.setUint16(12, DOS_TIME, true);
    v.setUint16(14, DOS_DATE, true);
    v.setUint32(16, e.crc, true);
    v.setUint32(20, e.size, true);
    v.setUint32(24, e.size, true);
    v.setUint16(28, name.length, true);
    v.setUint32(42, e.offset, true);
    b.set(name, CENTRAL_HEADER);
    parts.push(b);
    size += b.length;
  }
  const end = new Uint8Array(END_RECORD);
  const v = new DataView(end.buffer);
  v.setUint32(0, 0x06054b50, true);
  v.setUint16(8, entries.length, true);
  v.setUint16(10, entries.length, true);
  v.setUint32(12, size, true);
  v.setUint32(16, offset, true);
  parts.push(end);
  const out = new Uint8Array(size + END_RECORD);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The whole archive as a stream, pulling each entry's bytes from `open(path)` in turn (one
 * file open at a time: memory is a chunk, not a folder). Ends with an error if an entry's
 * bytes do not match the size it was listed with.
 */
export function zipStream(
  entries: readonly ZipEntry[],
  open: (path: string) => AsyncIterable<Uint8Array>,
): ReadableStream<Uint8Array> {
  const written: WrittenEntry[] = [];
  let offset = 0;
  const gen = (async function* () {
    for (const e of entries) {
      const header = localHeader(e.path);
      const start = offset;
      // Lengths are taken before each yield: a yielded chunk belongs to the reader, which may
      // transfer its memory away (port-stream.ts).
      offset += header.length;
      yield header;
      let crc = 0;
      let size = 0;
      for await (const chunk of open(e.path)) {
        crc = crc32(crc, chunk);
        size += chunk.length;
        offset += chunk.length;
        yield chunk;
      }
      if (size !== e.size)
        throw new Error(`'${e.path}' gave ${size} bytes, not the ${e.size} it was listed with`);
      const d = dataDescriptor(crc, size);
      offset += d.length;
      yield d;
      written.push({ ...e, crc, offset: start });
    }
    yield centralDirectory(written, offset);
  })();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const step = await gen.next();
          if (step.done) controller.close();
          else controller.enqueue(step.value);
        } catch (err) {
          controller.error(err);
        }
      },
      async cancel() {
        await gen.return(undefined);
      },
    },
    { highWaterMark: 1 },
  );
}
