/**
 * The S3 backend's ranged GETs outside the SDK: the SigV4 signature against AWS's published
 * example, and the reader against a real HTTP server on 127.0.0.1 (partial and whole answers,
 * errors, retries, a store that goes quiet). server-s3.test.ts runs it against radosgw.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  RangeGetError,
  RangeGetter,
  type RangeGetterOptions,
  s3ObjectPath,
  signedGetHeaders,
} from '../../server/backends/s3-range-get.ts';
import { expectBytesEqual } from '../harness/bytes.ts';
import { cleanup, tempDir } from '../harness/grid.ts';

/** A getter for a store at `endpoint` on 127.0.0.1, with limits short enough for tests. */
function getterFor(endpoint: string, o: Partial<RangeGetterOptions> = {}): RangeGetter {
  return new RangeGetter({
    endpoint,
    bucket: 'bkt',
    region: 'us-east-1',
    credentials: { accessKeyId: 'K', secretAccessKey: 'S' },
    connectTimeoutMs: 1_000,
    idleTimeoutMs: 1_000,
    attempts: 1,
    ...o,
  });
}

describe('signedGetHeaders', () => {
  it("gives AWS's example signature for a ranged GET", () => {
    // "Signature Calculations for the Authorization Header: Transferring Payload in a Single
    // Chunk (AWS Signature Version 4)", example "GET Object".
    const h = signedGetHeaders({
      host: 'examplebucket.s3.amazonaws.com',
      path: '/test.txt',
      range: 'bytes=0-9',
      region: 'us-east-1',
      credentials: {
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
      date: new Date('2013-05-24T00:00:00Z'),
    });
    expect(h.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(h['x-amz-date']).toBe('20130524T000000Z');
    expect(h['x-amz-content-sha256']).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('encodes key segments as S3 does, keeping the slashes', () => {
    expect(s3ObjectPath('b', 'p/shares/immutable/ab/abc/3')).toBe('/b/p/shares/immutable/ab/abc/3');
    expect(s3ObjectPath('b', "a b/c+d/e!'()*~._-")).toBe('/b/a%20b/c%2Bd/e%21%27%28%29%2A~._-');
  });
});

describe('RangeGetter', () => {
  const object = new Uint8Array(randomBytes(300_000));
  let server: http.Server | undefined;
  let getter: RangeGetter | undefined;
  afterEach(async () => {
    getter?.close();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
  });

  /** A store answering each request with `answer` (its count of requests so far given). */
  async function store(answer: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void) {
    let n = 0;
    server = http.createServer((req, res) => answer(req, res, ++n));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    getter = getterFor(`http://127.0.0.1:${port}`, { idleTimeoutMs: 300, attempts: 3 });
    return getter;
  }

  const rangeOf = (req: http.IncomingMessage) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) throw new Error(`bad range ${req.headers.range}`);
    return [Number(m[1]), Number(m[2]) + 1];
  };

  it('reads a range into the target, the body in many pieces, with a signed request', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const g = await store((req, res) => {
      seen.push(req.headers);
      expect(req.url).toBe('/bkt/x/y%20z');
      const [from, to] = rangeOf(req);
      res.writeHead(206, { 'content-length': to - from });
      for (let at = from; at < to; at += 1000) res.write(object.subarray(at, Math.min(to, at + 1000)));
      res.end();
    });
    const target = new Uint8Array(100_000);
    expect(await g.read('x/y z', 12_345, target)).toBe(100_000);
    expectBytesEqual(target, object.subarray(12_345, 112_345));
    expect(seen[0].authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=K\/\d{8}\/us-east-1\/s3\/aws4_request, /,
    );
    expect(seen[0]['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it("an endpoint with a path keeps it in front of the object's", async () => {
    let url = '';
    await store((req, res) => {
      url = req.url ?? '';
      res.writeHead(206, { 'content-length': 4 });
      res.end(object.subarray(0, 4));
    });
    const port = (server!.address() as AddressInfo).port;
    const behindProxy = getterFor(`http://127.0.0.1:${port}/s3/`);
    try {
      expect(await behindProxy.read('a/b', 0, new Uint8Array(4))).toBe(4);
      expect(url).toBe('/s3/bkt/a/b');
    } finally {
      behindProxy.close();
    }
  });

  it('an IPv6 endpoint', async () => {
    const v6 = http.createServer((req, res) => {
      const [from, to] = rangeOf(req);
      res.writeHead(206, { 'content-length': to - from });
      res.end(object.subarray(from, to));
    });
    await new Promise<void>((r) => v6.listen(0, '::1', r));
    const g = getterFor(`http://[::1]:${(v6.address() as AddressInfo).port}`);
    try {
      const target = new Uint8Array(1_000);
      expect(await g.read('k', 10, target)).toBe(1_000);
      expectBytesEqual(target, object.subarray(10, 1_010));
    } finally {
      g.close();
      await new Promise((r) => v6.close(r));
    }
  });

  it('a store that ignores Range: the whole object, read from the position; a short object: fewer bytes', async () => {
    const g = await store((_req, res) => {
      res.writeHead(200, { 'content-length': object.length });
      res.end(object);
    });
    const target = new Uint8Array(5_000);
    expect(await g.read('k', 250_000, target)).toBe(5_000);
    expectBytesEqual(target, object.subarray(250_000, 255_000));
    expect(await g.read('k', 298_000, target)).toBe(2_000);
    expectBytesEqual(target.subarray(0, 2_000), object.subarray(298_000));
  });

  it("a refusal is a RangeGetError with the store's status and code, not tried again", async () => {
    let requests = 0;
    const g = await store((_req, res) => {
      requests++;
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>');
    });
    const err = await g.read('k', 0, new Uint8Array(10)).catch((e) => e);
    expect(err).toBeInstanceOf(RangeGetError);
    expect(err).toMatchObject({ name: 'NoSuchKey', status: 404 });
    expect(requests).toBe(1);
  });

  it('a 5xx is tried again, up to the attempts given', async () => {
    const g = await store((req, res, n) => {
      if (n < 3) {
        res.writeHead(503);
        res.end();
        return;
      }
      const [from, to] = rangeOf(req);
      res.writeHead(206, { 'content-length': to - from });
      res.end(object.subarray(from, to));
    });
    const target = new Uint8Array(64);
    expect(await g.read('k', 7, target)).toBe(64);
    expectBytesEqual(target, object.subarray(7, 71));
    getter?.close();
    const failing = await store((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    await expect(failing.read('k', 0, target)).rejects.toMatchObject({ status: 500 });
  });

  it('an answer of many ranges on one connection, and one without a Content-Length: a clear error', async () => {
    const g = await store((req, res) => {
      const [from, to] = rangeOf(req);
      if (from === 0) {
        res.writeHead(206); // chunked: not how S3 answers a GET
        res.write(object.subarray(from, to));
        res.end();
        return;
      }
      res.writeHead(206, { 'content-length': to - from });
      res.end(object.subarray(from, to));
    });
    const reads = Array.from({ length: 40 }, (_, i) => {
      const target = new Uint8Array(7_000);
      return g.read('k', 1 + i * 7_000, target).then((n) => [n, target] as const);
    });
    for (const [i, [n, target]] of (await Promise.all(reads)).entries()) {
      expect(n).toBe(7_000);
      expectBytesEqual(target, object.subarray(1 + i * 7_000, 1 + (i + 1) * 7_000));
    }
    await expect(g.read('k', 0, new Uint8Array(10))).rejects.toMatchObject({ name: 'BadAnswer' });
  });

  it('a kept connection the store has closed meanwhile: the next read still works', async () => {
    let connections = 0;
    const g = await store((req, res) => {
      const [from, to] = rangeOf(req);
      res.writeHead(206, { 'content-length': to - from });
      res.end(object.subarray(from, to));
      // The store ends the kept connection a moment after answering (as a keep-alive timeout does).
      res.on('finish', () => setTimeout(() => req.socket.destroy(), 20));
    });
    server!.on('connection', () => connections++);
    const target = new Uint8Array(1_000);
    expect(await g.read('k', 0, target)).toBe(1_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await g.read('k', 5_000, target)).toBe(1_000);
    expectBytesEqual(target, object.subarray(5_000, 6_000));
    expect(connections).toBe(2);
  });

  it('a head that comes in two reads, split anywhere around its end, and a body in pieces', async () => {
    let split = 0;
    const raw = net.createServer((sock) => {
      let asked = '';
      sock.on('data', async (d) => {
        asked += d.toString('latin1');
        while (asked.includes('\r\n\r\n')) {
          const req = asked.slice(0, asked.indexOf('\r\n\r\n'));
          asked = asked.slice(asked.indexOf('\r\n\r\n') + 4);
          const m = /range: bytes=(\d+)-(\d+)/i.exec(req);
          const [from, to] = [Number(m![1]), Number(m![2]) + 1];
          const head = Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${to - from}\r\n\r\n`);
          const answer = Buffer.concat([head, object.subarray(from, to)]);
          // The first read ends `split` bytes before the head's end (negative: after it);
          // then the rest in pieces, each long enough apart to be a read of its own.
          const cuts = [head.length - split, head.length + 10, head.length + 100, answer.length];
          let at = 0;
          for (const cut of cuts) {
            sock.write(answer.subarray(at, cut));
            at = cut;
            await new Promise((r) => setTimeout(r, 15));
          }
        }
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const g = getterFor(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`, { idleTimeoutMs: 2_000 });
    try {
      for (split = -3; split <= 5; split++) {
        const target = new Uint8Array(5_000);
        expect(await g.read('k', 33, target)).toBe(target.length);
        expectBytesEqual(target, object.subarray(33, 5_033));
      }
    } finally {
      g.close();
      await new Promise((r) => raw.close(r));
    }
  });

  it('a store that goes quiet mid-answer: a TimeoutError after the idle time, on each try', async () => {
    let requests = 0;
    const g = await store((_req, res) => {
      requests++;
      res.writeHead(206, { 'content-length': 1000 });
      res.write(object.subarray(0, 10)); // and then nothing
    });
    const t = performance.now();
    const err = await g.read('k', 0, new Uint8Array(1000)).catch((e) => e);
    expect(err).toMatchObject({ name: 'TimeoutError' });
    expect(requests).toBe(3);
    expect(performance.now() - t).toBeLessThan(5_000);
    server?.closeAllConnections();
  });

  it.skipIf(!existsSync('/usr/bin/openssl'))(
    'over HTTPS: the same reads through TLS, with a certificate the process trusts',
    async () => {
      const dir = tempDir('cairn-tls-');
      const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
      execFileSync(
        '/usr/bin/openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      const tlsServer = https.createServer(
        { key: readFileSync(key), cert: readFileSync(cert) },
        (req, res) => {
          const [from, to] = rangeOf(req);
          res.writeHead(206, { 'content-length': to - from });
          res.end(object.subarray(from, to));
        },
      );
      await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
      const port = (tlsServer.address() as AddressInfo).port;
      // A child process, so that the test's certificate is trusted as an operator's own CA is.
      const module = fileURLToPath(new URL('../../server/backends/s3-range-get.ts', import.meta.url));
      const script = `
        import { RangeGetter } from ${JSON.stringify(module)};
        const out = [];
        for (const host of ['127.0.0.1', 'localhost']) {
          const g = new RangeGetter({ endpoint: 'https://' + host + ':${port}', bucket: 'b', region: 'us-east-1',
            credentials: { accessKeyId: 'K', secretAccessKey: 'S' }, connectTimeoutMs: 5000, idleTimeoutMs: 5000, attempts: 1 });
          const targets = [0, 1, 2].map(() => new Uint8Array(90000));
          const got = await Promise.all(targets.map((t, i) => g.read('k', 7 + i * 90000, t)));
          out.push({ got, bytes: Buffer.concat(targets).toString('base64') });
          g.close();
        }
        console.log(JSON.stringify(out));
      `;
      const run = (env: NodeJS.ProcessEnv) =>
        new Promise<string>((resolve, reject) =>
          execFile(
            process.execPath,
            ['--import', 'tsx', '--input-type=module', '-e', script],
            { timeout: 30_000, env },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
          ),
        );
      try {
        const out = JSON.parse(await run({ ...process.env, NODE_EXTRA_CA_CERTS: cert }));
        for (const r of out) {
          expect(r.got).toEqual([90000, 90000, 90000]);
          expectBytesEqual(new Uint8Array(Buffer.from(r.bytes, 'base64')), object.subarray(7, 270007));
        }
        // Not trusted: refused, not read.
        await expect(run({ ...process.env, NODE_EXTRA_CA_CERTS: '' })).rejects.toThrow(/self[- ]signed/);
      } finally {
        tlsServer.closeAllConnections();
        await new Promise((r) => tlsServer.close(r));
        cleanup();
      }
    },
    60_000,
  );
});
