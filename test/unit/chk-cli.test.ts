/** `cairn debug chk-cap` / `chk-shares` run in-process on real temp files. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chkCapCommand, chkSharesCommand } from '../../cli/commands/debug/chk.ts';
import { UsageError } from '../../cli/command.ts';
import { parseChkCap } from '../../core/caps/immutable.ts';
import { loadCodec } from '../../core/codec/index.ts';
import { readChk } from '../../core/immutable/decoder.ts';
import { memoryShareReader } from '../../core/immutable/memory.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cairn-chk-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function capture(run: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((s: string) => lines.push(s));
  try {
    return { code: await run(), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

const CONV = ['--convergence', 'YWFhYWFhYWFhYWFhYWFhYQ=='];

describe('cairn debug chk-cap / chk-shares', () => {
  it('prints the reference cap for bytes 0..255 x4, 3-of-10', async () => {
    const file = path.join(dir, 'in1024');
    await writeFile(
      file,
      Buffer.concat(Array.from({ length: 4 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i)))),
    );
    const { code, out } = await capture(() =>
      chkCapCommand.run([...CONV, '--k', '3', '--n', '10', '--segment-size', '131072', file]),
    );
    expect(code).toBe(0);
    expect(out).toBe(
      'URI:CHK:wxnoqfwhgpf6vaxrf7cpfvtmz4:t2qkwqtcig4fduvwnojeuweo2cssvo5ebfsamw67ift3zwqxxt6a:3:10:1024',
    );
  });

  it('writes N share files that decode back to the file, and prints the same cap', async () => {
    const file = path.join(dir, 'multi');
    const data = new Uint8Array(50_000).map((_, i) => (i * 31 + 7) & 0xff);
    await writeFile(file, data);
    const args = [...CONV, '--k', '2', '--n', '5', '--segment-size', '8192'];
    const capOut = await capture(() => chkCapCommand.run([...args, file]));
    const outDir = path.join(dir, 'shares');
    const sharesOut = await capture(() => chkSharesCommand.run([...args, file, outDir]));
    expect(sharesOut.out).toBe(capOut.out);
    const shares = new Map<number, Uint8Array>();
    for (const i of [1, 4]) shares.set(i, new Uint8Array(await readFile(path.join(outDir, String(i)))));
    const cap = parseChkCap(sharesOut.out);
    const back = await readChk(cap, memoryShareReader(shares), {
      backend: nodeCrypto,
      codec: await loadCodec(),
    });
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  });

  it('gives LIT caps for tiny files and usage errors for bad arguments', async () => {
    const file = path.join(dir, 'hello');
    await writeFile(file, 'hello');
    expect((await capture(() => chkCapCommand.run([...CONV, file]))).out).toBe('URI:LIT:nbswy3dp');
    await expect(chkCapCommand.run([file])).rejects.toThrow(UsageError);
    await expect(chkCapCommand.run(['--convergence', 'not base64!', file])).rejects.toThrow(/base64/);
    await expect(chkCapCommand.run([...CONV, '--k', '4', '--n', '3', file])).rejects.toThrow(/--k \(4\)/);
    await expect(chkCapCommand.run([...CONV, path.join(dir, 'missing')])).rejects.toThrow(/does not exist/);
  });
});
