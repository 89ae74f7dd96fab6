/**
 * RSA in Debian's Chromium (tahoe-formats §4.1 marks browser key export UNVERIFIED): the page
 * runs core/primitives/rsa.ts itself (bundled with esbuild), turns vector PEMs into PKCS#8,
 * imports them into WebCrypto and re-exports PKCS#8 and SPKI; Node checks those bytes give
 * Tahoe's caps. Keys generated and signatures made in Chromium verify in Node, and the reverse.
 */
import { constants, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCapability, mutableWriteCapOf } from '../../core/caps/index.ts';
import { toHex, utf8 } from '../../core/primitives/bytes.ts';
import {
  generateRsaKeyPair,
  type Pkcs8Der,
  privateKeyFromPem,
  rsaKeyPairOf,
  rsaSigner,
  rsaVerify,
  type SpkiDer,
} from '../../core/primitives/rsa.ts';
import { readVectors, type SskVector } from '../vectors/read.ts';

/** What the page exposes: the rsa module, plus base64 helpers to carry bytes across. */
type PageRsa = typeof import('../../core/primitives/rsa.ts');
type PageWindow = { cairnRsa: PageRsa };

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

const ssk = readVectors().vectors.filter((v): v is SskVector => v.kind === 'ssk');
// Six of each format, spread over the (k, N) classes.
const sample = (['sdmf', 'mdmf'] as const).flatMap((f) =>
  ssk.filter((v) => v.format === f).filter((_, i) => i % 10 === 0),
);

let browser: Browser;
let server: Server;
let page: Page;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../../core/primitives/rsa.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    globalName: 'cairnRsa',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  // WebCrypto needs a secure context: http://127.0.0.1 is one, about:blank is not reliably.
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>rsa</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe('RSA in Chromium', () => {
  it('has 12 sample vectors, both formats', () => {
    expect(sample.length).toBe(12);
    expect(new Set(sample.map((v) => v.format))).toEqual(new Set(['sdmf', 'mdmf']));
  });

  it('vector keys re-exported by Chromium give the same bytes and Tahoe caps', async () => {
    const pems = sample.map((v) => v.pem);
    const exported = await page.evaluate(async (pems) => {
      const { cairnRsa } = window as unknown as PageWindow;
      const enc = (b: Uint8Array) => btoa(Array.from(b, (c) => String.fromCharCode(c)).join(''));
      const out = [];
      for (const pem of pems) {
        const wrapped = cairnRsa.privateKeyFromPem(pem);
        const pair = await cairnRsa.rsaKeyPairOf(wrapped);
        out.push({ wrapped: enc(wrapped), pkcs8: enc(pair.privateKey), spki: enc(pair.publicKey) });
      }
      return out;
    }, pems);
    expect(exported.length).toBe(sample.length);
    for (const [i, v] of sample.entries()) {
      const nodePkcs8 = privateKeyFromPem(v.pem);
      const e = exported[i];
      expect(toHex(unb64(e.wrapped)), `vector ${i}: PEM wrapping`).toBe(toHex(nodePkcs8));
      expect(toHex(unb64(e.pkcs8)), `vector ${i}: pkcs8 re-export`).toBe(toHex(nodePkcs8));
      expect(toHex(unb64(e.spki)), `vector ${i}: spki`).toBe(
        toHex((await rsaKeyPairOf(nodePkcs8)).publicKey),
      );
      const cap = mutableWriteCapOf(v.format, unb64(e.pkcs8) as Pkcs8Der, unb64(e.spki) as SpkiDer);
      expect(formatCapability(cap), `vector ${i}`).toBe(v.expected);
    }
  }, 60_000);

  it('keys generated and PSS signatures (salt 32) made in Chromium verify in Node', async () => {
    const message = utf8('a signed prefix, as a mutable share carries it');
    const made = await page.evaluate(async (text) => {
      const { cairnRsa } = window as unknown as PageWindow;
      const enc = (b: Uint8Array) => btoa(Array.from(b, (c) => String.fromCharCode(c)).join(''));
      const message = new TextEncoder().encode(text);
      const keys = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        const pair = await cairnRsa.generateRsaKeyPair();
        const ms = performance.now() - t0;
        const signature = await (await cairnRsa.rsaSigner(pair.privateKey)).sign(message);
        keys.push({ ms, pkcs8: enc(pair.privateKey), spki: enc(pair.publicKey), signature: enc(signature) });
      }
      return keys;
    }, new TextDecoder().decode(message));

    for (const k of made) {
      const pkcs8 = unb64(k.pkcs8) as Pkcs8Der;
      const spki = unb64(k.spki) as SpkiDer;
      const signature = unb64(k.signature);
      // Chromium's DER is the canonical form Node (and Tahoe) would write for the same key.
      const again = await rsaKeyPairOf(pkcs8);
      expect(toHex(again.privateKey)).toBe(toHex(pkcs8));
      expect(toHex(again.publicKey)).toBe(toHex(spki));
      expect(await rsaVerify(spki, message, signature)).toBe(true);
      const tampered = message.slice();
      tampered[0] ^= 1;
      expect(await rsaVerify(spki, tampered, signature)).toBe(false);
      // OpenSSL checks an explicit salt length exactly: 32 and nothing else.
      const pss = (saltLength: number) =>
        nodeVerify(
          'sha256',
          message,
          {
            key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength,
          },
          signature,
        );
      expect(pss(32)).toBe(true);
      expect(pss(20)).toBe(false);
    }
    const times = made.map((k) => k.ms).sort((a, b) => a - b);
    const median = (times[4] + times[5]) / 2;
    console.info(
      `Chromium ${browser.version()} RSA-2048 key generation: median ${median.toFixed(0)} ms of ${times.length} ` +
        `(min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)})`,
    );
  }, 120_000);

  it('a key generated and a signature made in Node verify in Chromium', async () => {
    const pair = await generateRsaKeyPair();
    const message = utf8('made in Node');
    const signature = await (await rsaSigner(pair.privateKey)).sign(message);
    const result = await page.evaluate(
      async ({ spki, message, signature }) => {
        const { cairnRsa } = window as unknown as PageWindow;
        const dec = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
        const key = dec(spki) as Parameters<PageRsa['rsaVerify']>[0];
        const msg = dec(message);
        const good = await cairnRsa.rsaVerify(key, msg, dec(signature));
        msg[msg.length - 1] ^= 1;
        const tampered = await cairnRsa.rsaVerify(key, msg, dec(signature));
        return { good, tampered };
      },
      { spki: b64(pair.publicKey), message: b64(message), signature: b64(signature) },
    );
    expect(result).toEqual({ good: true, tampered: false });
  }, 60_000);
});
