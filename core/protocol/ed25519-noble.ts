/**
 * ed25519 in JavaScript (noble), for browsers; Node takes ed25519-node.ts through the
 * `#ed25519` import condition. Both sign the same bytes, and take and refuse the same keys
 * and signatures (test/unit/protocol-identity.test.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js';

// A small base-point table: noble's default (window 8) takes 100–400 ms to build on first
// use; window 4 builds in ~10 ms, and signing stays ~2 ms.
ed25519.Point.BASE.precompute(4);

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey);
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed25519.sign(message, secretKey);
}

/** RFC 8032's cofactorless check, S < L, the key's y below p (zip215 off). */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** Whether `key` decodes (canonically) to a point that is not of small order. */
export function isUsablePoint(key: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(key).isSmallOrder();
  } catch {
    return false;
  }
}
