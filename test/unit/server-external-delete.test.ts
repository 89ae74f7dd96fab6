/**
 * A share file deleted behind a running server's back (an operator, a failed disk) must not
 * swallow later writes: a new share at that path is a new file, listed and readable, not
 * bytes written into the unlinked inode through a cached handle (seen: a repair "stored"
 * three mutable shares that no server listed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base32Encode } from '../../core/primitives/base32.ts';
import { asShareNum, asStorageIndex } from '../../core/types.ts';
import { cleanup, startTestServer } from '../harness/grid.ts';
import { connectStorageServer } from '../../core/protocol/client.ts';

afterAll(() => cleanup());

describe('a share file deleted under a running server', () => {
  it('is recreated as a new file when written again', async () => {
    const node = await startTestServer({});
    const conn = await connectStorageServer(node.url!, node.serverId);
    try {
      const si = asStorageIndex(new Uint8Array(16).fill(9));
      const sh = asShareNum(3);
      const secrets = {
        writeEnabler: new Uint8Array(32).fill(1),
        renew: new Uint8Array(32).fill(2),
        cancel: new Uint8Array(32).fill(3),
      };
      const write = (data: Uint8Array) =>
        conn.readTestWrite(
          si,
          secrets,
          new Map([
            [
              sh,
              {
                test: [{ offset: 0, size: 1, specimen: new Uint8Array(0) }],
                write: [{ offset: 0, data }],
                newLength: null,
              },
            ],
          ]),
          [],
        );
      expect((await write(new Uint8Array(100).fill(1))).success).toBe(true);
      expect(await conn.readMutableShare(si, sh, 0, 100)).toEqual(new Uint8Array(100).fill(1));
      const b = base32Encode(si);
      await fs.rm(path.join(node.dir, 'storage', 'shares', b.slice(0, 2), b, String(sh)));
      expect(await conn.listMutableShares(si)).toEqual([]);
      expect((await write(new Uint8Array(50).fill(7))).success).toBe(true);
      expect(await conn.listMutableShares(si)).toEqual([sh]);
      expect(await conn.readMutableShare(si, sh, 0, 100)).toEqual(new Uint8Array(50).fill(7));
    } finally {
      conn.close();
      await node.close();
    }
  });
});
