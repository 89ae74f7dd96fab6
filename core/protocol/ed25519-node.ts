/**
 * ed25519 over OpenSSL, for Node: ~15x faster than noble's JavaScript, with no curve tables
 * or module set-up at start (noble's ed25519 module cost every CLI run ~45 ms before any
 * work). Browsers take ed25519-noble.ts through the `#ed25519` import condition; both sign
 * the same bytes and take and refuse the same keys and signatures (protocol-identity tests).
 * OpenSSL checks RFC 8032's cofactorless equation with S < L and R compared as encoded, as
 * noble does with zip215 off; noble also refuses a key whose y is not below p, which OpenSSL
 * may reduce, so such keys are refused here before OpenSSL sees them.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

// DER heads of an ed25519 key: SPKI around the 32-byte public key, PKCS#8 around the seed.
const SPKI_HEAD = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_HEAD = Buffer.from('302e020100300506032b657004220420', 'hex');

/** OpenSSL's key for a secret; the last one is kept (a server signs with one key all its life). */
function privateKeyOf(secretKey: Uint8Array): KeyObject {
  const der = Buffer.concat([PKCS8_HEAD, secretKey]);
  if (!lastPrivate?.der.equals(der)) {
    lastPrivate = { der, key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
  }
  return lastPrivate.key;
}
let lastPrivate: { der: Buffer; key: KeyObject } | undefined;

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) throw new Error('an ed25519 secret key is 32 bytes');
  const spki = createPublicKey(privateKeyOf(secretKey)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_HEAD.length));
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) throw new Error('an ed25519 secret key is 32 bytes');
  return new Uint8Array(sign(null, message, privateKeyOf(secretKey)));
}

export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64 || decodeY(publicKey) === null) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/**
 * OpenSSL's key for `publicKey`, made once per key: a client checks each server's key twice
 * at start (its announcement, its handshake), and a server's announcements recur. From JWK,
 * which takes the raw key (~0.04 ms) where DER goes through OpenSSL's decoders (~0.15-0.7).
 */
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString('base64url');
  let key = publicKeyObjects.get(x);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    if (publicKeyObjects.size >= PUBLIC_KEY_OBJECTS_MAX) publicKeyObjects.clear();
    publicKeyObjects.set(x, key);
  }
  return key;
}
const publicKeyObjects = new Map<string, KeyObject>();
const PUBLIC_KEY_OBJECTS_MAX = 1024;

// The curve -x^2 + y^2 = 1 + d x^2 y^2 over p = 2^255 - 19, for the key checks below (a few
// per server id, cached by the caller): plain BigInt arithmetic, ~0.2 ms a key (~0.5 cold).
const P = (1n << 255n) - 19n;
const mod = (a: bigint) => ((a % P) + P) % P;
function pow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = mod(base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}
const inv = (a: bigint) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/** The encoded y (little-endian, sign bit cleared) if it is below p, else null. */
function decodeY(encoded: Uint8Array): bigint | null {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? encoded[i] & 0x7f : encoded[i]);
  return y < P ? y : null;
}

/** RFC 8032 §5.1.3 point decoding: the affine point, or null when `encoded` names none. */
function decodePoint(encoded: Uint8Array): { x: bigint; y: bigint } | null {
  if (encoded.length !== 32) return null;
  const y = decodeY(encoded);
  if (y === null) return null;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  const v3 = (v * v * v) % P;
  let x = (((u * v3) % P) * pow((u * v3 * v3 * v) % P, (P - 5n) / 8n)) % P;
  const vx2 = (v * x * x) % P;
  if (vx2 === mod(-u)) x = (x * SQRT_M1) % P;
  else if (vx2 !== u) return null;
  const odd = (encoded[31] & 0x80) !== 0;
  if (x === 0n && odd) return null;
  if ((x & 1n) === 1n) x = P - x; // pick the root whose parity the sign bit names
  return { x: odd ? mod(-x) : x, y };
}

/** Projective doubling (X:Y:Z) on the curve, a = -1 (dbl-2008-bbjlp: no inversion). */
function double([x, y, z]: readonly [bigint, bigint, bigint]): [bigint, bigint, bigint] {
  const b = ((x + y) * (x + y)) % P;
  const c = (x * x) % P;
  const d = (y * y) % P;
  const f = mod(d - c); // e + d with e = a·c = -c
  const j = mod(f - 2n * ((z * z) % P));
  return [mod((b - c - d) * j), mod(f * (-c - d)), (f * j) % P];
}

/**
 * Whether `key` decodes (canonically) to a point that is not of small order: 8P is not the
 * identity (X = 0, Y = Z). A small-order key lets any signature verify.
 */
export function isUsablePoint(key: Uint8Array): boolean {
  const p = decodePoint(key);
  if (p === null) return false;
  const [x, y, z] = double(double(double([p.x, p.y, 1n])));
  return !(x === 0n && y === z);
}
