/**
 * What the S3 backend's SDK client puts on the wire, seen by a real HTTP server on 127.0.0.1:
 * an immutable share's data goes with UNSIGNED-PAYLOAD (its readers check it against the
 * share's hash trees), everything else with its body's SHA-256 in the signature.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { S3Backend } from '../../server/backends/s3-backend.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

describe('S3 backend requests', () => {
  const seen: { url: string; sha: string | undefined; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      seen.push({
        url: req.url ?? '',
        sha: req.headers['x-amz-content-sha256'] as string,
        body: Buffer.concat(parts),
      });
      res.writeHead(200, { etag: '"e"', 'content-length': 0 });
      res.end();
    });
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    cleanup();
  });

  it('signs share data as UNSIGNED-PAYLOAD and every other body by its hash', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const backend = await S3Backend.create({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      bucket: 'bkt',
      prefix: 'p',
      credentials: { accessKeyId: 'K', secretAccessKey: 'S' },
      spoolDir: tempDir('cairn-spool-'),
    });
    const body = new Uint8Array(1000).fill(7);
    const sha = createHash('sha256').update(body).digest('hex');
    try {
      await backend.client.send(
        new PutObjectCommand({ Bucket: 'bkt', Key: 'p/shares/immutable/aa/x/0', Body: body }),
      );
      await backend.client.send(
        new UploadPartCommand({
          Bucket: 'bkt',
          Key: 'p/shares/immutable/aa/x/1',
          UploadId: 'u',
          PartNumber: 1,
          Body: body,
        }),
      );
      await backend.client.send(
        new PutObjectCommand({ Bucket: 'bkt', Key: 'p/leases/immutable/aa/x/0', Body: body }),
      );
      await backend.client.send(
        new PutObjectCommand({ Bucket: 'bkt', Key: 'p/shares/mutable/aa/x/0', Body: body }),
      );
      // Another prefix's share data is not this backend's.
      await backend.client.send(
        new PutObjectCommand({ Bucket: 'bkt', Key: 'q/shares/immutable/aa/x/0', Body: body }),
      );
    } finally {
      await backend.close();
    }
    expect(seen.map((s) => [s.url.split('?')[0], s.sha])).toEqual([
      ['/bkt/p/shares/immutable/aa/x/0', 'UNSIGNED-PAYLOAD'],
      ['/bkt/p/shares/immutable/aa/x/1', 'UNSIGNED-PAYLOAD'],
      ['/bkt/p/leases/immutable/aa/x/0', sha],
      ['/bkt/p/shares/mutable/aa/x/0', sha],
      ['/bkt/q/shares/immutable/aa/x/0', sha],
    ]);
    for (const s of seen) expect(s.body.equals(Buffer.from(body))).toBe(true);
  });
});
