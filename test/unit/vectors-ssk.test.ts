/**
 * Tahoe-LAFS's own SSK capability vectors (test/vectors/tahoe-capabilities.yaml): every SDMF
 * and MDMF key, PEM (PKCS#1) → PKCS#8 → write key and SPKI fingerprint, must give Tahoe's
 * write cap; its read and verify caps are derived, round-tripped and their storage index
 * checked against the key derivations.
 */
import { describe, expect, it } from 'vitest';
import {
  formatCapability,
  mutableWriteCapOf,
  parseCapability,
  readOnlyOf,
  storageIndexOf,
  verifierOf,
} from '../../core/caps/index.ts';
import { mutableStorageIndex, readKeyOf, writeKeyOf } from '../../core/mutable/keys.ts';
import { toHex } from '../../core/primitives/bytes.ts';
import { privateKeyFromPem, rsaKeyPairOf, rsaSigner } from '../../core/primitives/rsa.ts';
import { readVectors, type SskVector } from '../vectors/read.ts';

const vectors = readVectors().vectors.filter((v): v is SskVector => v.kind === 'ssk');

const PREFIX = {
  sdmf: { write: 'URI:SSK:', read: 'URI:SSK-RO:', verify: 'URI:SSK-Verifier:' },
  mdmf: { write: 'URI:MDMF:', read: 'URI:MDMF-RO:', verify: 'URI:MDMF-Verifier:' },
};

describe('Tahoe SSK capability vectors', () => {
  it('has 60 SDMF and 60 MDMF vectors', () => {
    expect(vectors.filter((v) => v.format === 'sdmf').length).toBe(60);
    expect(vectors.filter((v) => v.format === 'mdmf').length).toBe(60);
  });

  it.each(vectors.map((v, i) => [i, v.format, v] as const))('vector %i (%s)', async (_i, format, v) => {
    const privateKey = privateKeyFromPem(v.pem);
    // Re-exporting the wrapped key gives the same bytes: the wrapping is the canonical PKCS#8.
    const pair = await rsaKeyPairOf(privateKey);
    expect(toHex(pair.privateKey)).toBe(toHex(privateKey));
    expect(toHex(await (await rsaSigner(privateKey)).publicKey())).toBe(toHex(pair.publicKey));

    const write = mutableWriteCapOf(format, privateKey, pair.publicKey);
    const writeText = formatCapability(write);
    expect(writeText).toBe(v.expected);
    expect(parseCapability(v.expected)).toEqual(write);

    const read = readOnlyOf(write);
    const readText = formatCapability(read);
    expect(readText.startsWith(PREFIX[format].read)).toBe(true);
    expect(parseCapability(readText)).toEqual(read);
    expect(read.kind === 'ssk-read' && toHex(read.readKey)).toBe(toHex(readKeyOf(writeKeyOf(privateKey))));

    const verify = verifierOf(write);
    const verifyText = formatCapability(verify);
    expect(verifyText.startsWith(PREFIX[format].verify)).toBe(true);
    expect(parseCapability(verifyText)).toEqual(verify);
    expect(formatCapability(verifierOf(read))).toBe(verifyText);

    const si = toHex(mutableStorageIndex(readKeyOf(writeKeyOf(privateKey))));
    for (const cap of [write, read, verify]) expect(toHex(storageIndexOf(cap))).toBe(si);
    // Every form names the same key pair.
    for (const text of [readText, verifyText]) expect(text.endsWith(writeText.split(':')[3])).toBe(true);
  });

  it('first SDMF vector gives the reference read and verify caps (tahoe-formats §4.3)', async () => {
    const v = vectors[0];
    expect(v.expected).toBe(
      'URI:SSK:fs6ul2fju2fvb2cfx7gt6ngycm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq',
    );
    const write = parseCapability(v.expected);
    expect(formatCapability(readOnlyOf(write)!)).toBe(
      'URI:SSK-RO:65ruo2zytr3uxnaxkptdoqkth4:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq',
    );
    expect(formatCapability(verifierOf(write)!)).toBe(
      'URI:SSK-Verifier:axxzm642zi4vozwfjdijoafbrm:hncpinwszbggrurbvuaaexnftk3j5wfr7473pj2g734mo2isxlbq',
    );
  });
});
