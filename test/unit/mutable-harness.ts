/**
 * Shared set-up of the mutable-format tests: one RSA key from Tahoe's vectors (generating
 * keys is slow), seeded salts, and signers. The real signer is RSA-PSS (randomised: two
 * signatures of one prefix differ); the stand-in one is deterministic, for byte comparisons
 * between two encodings, and its signatures do not verify.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type Codec, loadCodec } from '../../core/codec/index.ts';
import { type EncodedMutableVersion, encodeMutable, type MutableSigner } from '../../core/mutable/encode.ts';
import { fingerprintOf, readKeyOf, writeKeyOf } from '../../core/mutable/keys.ts';
import type { MutableFormat } from '../../core/mutable/prefix.ts';
import { nodeCrypto } from '../../core/primitives/crypto-node.ts';
import { type Pkcs8Der, privateKeyFromPem, rsaSigner, type SpkiDer } from '../../core/primitives/rsa.ts';
import { readVectors } from '../vectors/read.ts';
import { pattern } from '../harness/bytes.ts';

export interface TestKey {
  readonly privateKey: Pkcs8Der;
  readonly publicKey: SpkiDer;
  readonly signer: MutableSigner;
  readonly writeKey: ReturnType<typeof writeKeyOf>;
  readonly readKey: ReturnType<typeof readKeyOf>;
  readonly fingerprint: ReturnType<typeof fingerprintOf>;
}

let key: Promise<TestKey> | undefined;
let codec: Promise<Codec> | undefined;

/** The first SSK key of Tahoe's vectors, with everything derived from it. */
export function testKey(): Promise<TestKey> {
  key ??= (async () => {
    const v = readVectors().vectors.find((x) => x.kind === 'ssk');
    if (v?.kind !== 'ssk') throw new Error('no SSK vector');
    const privateKey = privateKeyFromPem(v.pem);
    const signer = await rsaSigner(privateKey);
    const publicKey = await signer.publicKey();
    const writeKey = writeKeyOf(privateKey);
    return {
      privateKey,
      publicKey,
      signer,
      writeKey,
      readKey: readKeyOf(writeKey),
      fingerprint: fingerprintOf(publicKey),
    };
  })();
  return key;
}

export function testCodec(): Promise<Codec> {
  codec ??= loadCodec();
  return codec;
}

export async function tools() {
  return { codec: await testCodec(), backend: nodeCrypto };
}

/** A deterministic 256-byte stand-in for a signature (not a valid one). */
export const fakeSigner: MutableSigner = {
  async sign(message) {
    const out = new Uint8Array(256);
    for (let i = 0; i < 8; i++) out.set(sha256(new Uint8Array([...message, i])), 32 * i);
    return out;
  },
};

/** Random bytes from a seed: each call the next 16 (or `length`) of a fixed stream. */
export function seededRandom(seed: number): (length: number) => Uint8Array {
  let calls = 0;
  return (length) => pattern(length, seed * 7919 + ++calls);
}

/** Hands out the given salts in order (and fails past the end). */
export function saltsFrom(salts: readonly Uint8Array[]): (length: number) => Uint8Array {
  let i = 0;
  return (length) => {
    if (length !== 16 || i >= salts.length) throw new Error('unexpected salt request');
    return salts[i++];
  };
}

export interface EncodeOptions {
  readonly format: MutableFormat;
  readonly k: number;
  readonly n: number;
  readonly seqnum?: number;
  readonly signer?: MutableSigner;
  readonly random?: (length: number) => Uint8Array;
}

export async function encodeTest(data: Uint8Array, o: EncodeOptions): Promise<EncodedMutableVersion> {
  const k = await testKey();
  return encodeMutable(
    {
      data,
      format: o.format,
      k: o.k,
      n: o.n,
      seqnum: o.seqnum ?? 1,
      privateKey: k.privateKey,
      publicKey: k.publicKey,
      signer: o.signer ?? k.signer,
      random: o.random ?? seededRandom(data.length + 1),
    },
    await tools(),
  );
}

/** Every k-subset of 0..n-1. */
export function* subsets(n: number, k: number, start = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === k) {
    yield acc;
    return;
  }
  for (let i = start; i < n; i++) yield* subsets(n, k, i + 1, [...acc, i]);
}
