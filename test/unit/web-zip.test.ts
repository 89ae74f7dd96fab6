/**
 * The folder .zip writer: CRC-32 known answers, exact size, and an archive Python's zipfile
 * reads back after crossing a port as the app sends it (port-stream.ts: chunks transferred).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { receiveStream, sendStream } from '../../web/sw/port-stream.ts';
import { crc32, zipSize, zipStream } from '../../web/workers/zip.ts';
import { pattern } from '../harness/bytes.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

afterAll(() => cleanup());

async function* chunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('zip writer', () => {
  it('computes CRC-32 as zlib does', () => {
    expect(crc32(0, new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(0, new Uint8Array(0))).toBe(0);
    const data = pattern(100_000, 3);
    expect(crc32(crc32(0, data.subarray(0, 777)), data.subarray(777))).toBe(crc32(0, data));
  });

  it('streams an archive of the announced size that Python reads back byte for byte', async () => {
    const files = new Map<string, Uint8Array>([
      ['a.txt', new TextEncoder().encode('hello')],
      ['empty', new Uint8Array(0)],
      ['dir/ünïcode näme.bin', pattern(200_000, 1)],
      ['dir/sub/deep.bin', pattern(65_537, 2)],
    ]);
    const entries = [...files].map(([p, d]) => ({ path: p, size: d.length }));
    // Whole chunks move to the other side of the port: what they held is noted first.
    const expected = new Map([...files].map(([p, d]) => [p, Buffer.from(d).toString('hex')]));
    const { port1, port2 } = new MessageChannel();
    const received = receiveStream(port1);
    sendStream(
      zipStream(entries, (p) => chunks(files.get(p)!, 10_000)),
      port2,
    );
    const stream = await received;
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    expect(bytes.length).toBe(zipSize(entries));
    const file = path.join(tempDir('cairn-zip-'), 'x.zip');
    writeFileSync(file, bytes);
    const out = JSON.parse(
      execFileSync('/usr/bin/python3', [
        '-c',
        'import zipfile,sys,json; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps({n: z.read(n).hex() for n in z.namelist()}))',
        file,
      ]).toString(),
    ) as Record<string, string>;
    expect(Object.keys(out)).toEqual([...files.keys()]);
    for (const [p, hex] of expected) expect(out[p]).toBe(hex);
  });

  it('refuses what needs ZIP64, and an entry whose bytes do not match its size', async () => {
    expect(() => zipSize([{ path: 'huge', size: 2 ** 32 }])).toThrow(/4 GiB/);
    const stream = zipStream([{ path: 'x', size: 10 }], () => chunks(new Uint8Array(5), 5));
    await expect(new Response(stream).arrayBuffer()).rejects.toThrow();
  });
});
