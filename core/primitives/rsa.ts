/**
 * RSA for mutable files (reference/tahoe-formats.md §4.1), on WebCrypto in browsers, workers
 * and Node alike: 2048-bit keys, exponent 65537, RSASSA-PSS with SHA-256, MGF1-SHA-256 and a
 * 32-byte salt. Keys travel as DER bytes: the private key as PKCS#8 `PrivateKeyInfo`, the
 * public key as `SubjectPublicKeyInfo`, the forms Tahoe hashes into caps.
 */
import { CairnError } from '../errors.ts';
import { concatBytes, toHex } from './bytes.ts';

declare const brand: unique symbol;
/** An RSA private key as DER PKCS#8 (secret: it is the write authority of a mutable file). */
export type Pkcs8Der = Uint8Array & { readonly [brand]: 'Pkcs8Der' };
/** An RSA public key as DER SubjectPublicKeyInfo. */
export type SpkiDer = Uint8Array & { readonly [brand]: 'SpkiDer' };

export const RSA_MODULUS_BITS = 2048;
export const RSA_SIGNATURE_BYTES = 256;
const PSS_SALT_BYTES = 32;
const ALGORITHM = { name: 'RSA-PSS', hash: 'SHA-256' } as const;

export class RsaKeyError extends CairnError {
  constructor(message: string) {
    super('BAD_KEY', message);
  }
}

const subtle = () => globalThis.crypto.subtle;
/** WebCrypto's types want ArrayBuffer-backed views; ours always are. */
const ab = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

export interface RsaKeyPair {
  privateKey: Pkcs8Der;
  publicKey: SpkiDer;
}

/** A fresh 2048-bit key pair (slow: tens to hundreds of ms; call it off the UI thread). */
export async function generateRsaKeyPair(): Promise<RsaKeyPair> {
  const pair = await subtle().generateKey(
    {
      ...ALGORITHM,
      modulusLength: RSA_MODULUS_BITS,
      publicExponent: new Uint8Array([1, 0, 1]),
    },
    true,
    ['sign', 'verify'],
  );
  const [priv, pub] = await Promise.all([
    subtle().exportKey('pkcs8', pair.privateKey),
    subtle().exportKey('spki', pair.publicKey),
  ]);
  return { privateKey: new Uint8Array(priv) as Pkcs8Der, publicKey: new Uint8Array(pub) as SpkiDer };
}

/** A signer over a PKCS#8 key; refuses keys that are not 2048-bit RSA, as Tahoe does. */
export async function rsaSigner(privateKey: Pkcs8Der): Promise<RsaSigner> {
  const key = await importPrivateKey(privateKey);
  return {
    async sign(message) {
      return new Uint8Array(
        await subtle().sign({ name: 'RSA-PSS', saltLength: PSS_SALT_BYTES }, key, ab(message)),
      );
    },
    publicKey: () => publicKeyOf(key),
  };
}

/**
 * Both halves of a private key as the DER Tahoe hashes into caps. The private key is
 * re-exported rather than passed through: Tahoe hashes its own PKCS#8 serialization of the
 * key, not the bytes of the file it came from.
 */
export async function rsaKeyPairOf(privateKey: Pkcs8Der): Promise<RsaKeyPair> {
  const key = await importPrivateKey(privateKey);
  const [priv, pub] = await Promise.all([subtle().exportKey('pkcs8', key), publicKeyOf(key)]);
  return { privateKey: new Uint8Array(priv) as Pkcs8Der, publicKey: pub };
}

async function importPrivateKey(privateKey: Pkcs8Der): Promise<CryptoKey> {
  let key: CryptoKey;
  try {
    key = await subtle().importKey('pkcs8', ab(privateKey), ALGORITHM, true, ['sign']);
  } catch {
    throw new RsaKeyError('the private key is not a valid RSA key (PKCS#8 DER)');
  }
  const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  if (bits !== RSA_MODULUS_BITS) {
    throw new RsaKeyError(`mutable files use ${RSA_MODULUS_BITS}-bit RSA keys, not ${bits}-bit ones`);
  }
  return key;
}

/** DER SPKI of an extractable private key's public half. */
async function publicKeyOf(key: CryptoKey): Promise<SpkiDer> {
  // WebCrypto has no "public part of a private key": go through JWK (n and e only).
  const jwk = await subtle().exportKey('jwk', key);
  const pub = await subtle().importKey(
    'jwk',
    { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'PS256', ext: true },
    ALGORITHM,
    true,
    ['verify'],
  );
  return new Uint8Array(await subtle().exportKey('spki', pub)) as SpkiDer;
}

export interface RsaSigner {
  sign(message: Uint8Array): Promise<Uint8Array>;
  /** The key's public half, DER SPKI. */
  publicKey(): Promise<SpkiDer>;
}

/** True when `signature` is a valid PSS signature of `message` under `publicKey`; false otherwise. */
export async function rsaVerify(
  publicKey: SpkiDer,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const key = await verifyKey(publicKey);
  if (key === null || signature.length !== RSA_SIGNATURE_BYTES) return false;
  return subtle().verify({ name: 'RSA-PSS', saltLength: PSS_SALT_BYTES }, key, ab(signature), ab(message));
}

/**
 * The imported key for `publicKey` (null if it is not 2048-bit RSA), made once per key: an
 * import parses the DER (~1.5-3 ms in Node, more than the verification), and one directory
 * is checked again at each read and before each change.
 */
function verifyKey(publicKey: SpkiDer): Promise<CryptoKey | null> {
  const id = toHex(publicKey);
  let key = verifyKeys.get(id);
  if (!key) {
    key = subtle()
      .importKey('spki', ab(publicKey.slice()), ALGORITHM, false, ['verify'])
      .then(
        (k) => ((k.algorithm as RsaHashedKeyAlgorithm).modulusLength === RSA_MODULUS_BITS ? k : null),
        () => null,
      );
    if (verifyKeys.size >= VERIFY_KEYS_MAX) verifyKeys.clear();
    verifyKeys.set(id, key);
  }
  return key;
}
const verifyKeys = new Map<string, Promise<CryptoKey | null>>();
const VERIFY_KEYS_MAX = 256;

// ---- PEM / PKCS#1 ------------------------------------------------------------------------

// AlgorithmIdentifier { rsaEncryption, NULL }
const RSA_ALGORITHM_ID = new Uint8Array([
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
]);

/** DER header of a constructed or primitive item of `length` bytes (long form when needed). */
function derHead(tag: number, length: number): Uint8Array {
  if (length < 0x80) return new Uint8Array([tag, length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return new Uint8Array([tag, 0x80 | bytes.length, ...bytes]);
}

/**
 * PKCS#1 `RSAPrivateKey` DER wrapped as PKCS#8 `PrivateKeyInfo` (§4.1): what Tahoe's CLI
 * does with a `BEGIN RSA PRIVATE KEY` PEM before the key is hashed into a cap.
 */
export function pkcs1ToPkcs8(pkcs1: Uint8Array): Pkcs8Der {
  const version = new Uint8Array([0x02, 0x01, 0x00]);
  const octets = concatBytes(derHead(0x04, pkcs1.length), pkcs1);
  const body = concatBytes(version, RSA_ALGORITHM_ID, octets);
  return concatBytes(derHead(0x30, body.length), body) as Pkcs8Der;
}

/**
 * The DER inside a PEM: `BEGIN RSA PRIVATE KEY` (PKCS#1) is wrapped to PKCS#8,
 * `BEGIN PRIVATE KEY` is PKCS#8 already.
 */
export function privateKeyFromPem(pem: string): Pkcs8Der {
  const m = /-----BEGIN (RSA )?PRIVATE KEY-----([\s\S]*?)-----END \1?PRIVATE KEY-----/.exec(pem);
  if (!m) throw new RsaKeyError('not a PEM private key (expected "-----BEGIN RSA PRIVATE KEY-----")');
  const body = m[2].replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new RsaKeyError('the PEM body is not base64');
  let der: Uint8Array;
  try {
    der = base64Decode(body);
  } catch {
    throw new RsaKeyError('the PEM body is not base64'); // atob refuses a body cut short
  }
  return m[1] ? pkcs1ToPkcs8(der) : (der as Pkcs8Der);
}

function base64Decode(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
