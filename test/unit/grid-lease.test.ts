import { describe, expect, it } from 'vitest';
import {
  bucketLeaseSecrets,
  clientLeaseSecrets,
  fileLeaseSecrets,
  leaseSecretsFor,
  parseClientSecret,
  serverSecrets,
  uploadSecretFor,
  fileSecrets,
} from '../../core/grid/lease.ts';
import { base32Decode, base32Encode } from '../../core/primitives/base32.ts';
import { equalBytes } from '../../core/primitives/bytes.ts';
import { InputError } from '../../core/errors.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';
import { asStorageIndex } from '../../core/types.ts';

describe('lease secrets (§7.4)', () => {
  it("reproduces Tahoe's derive_renewal_secret.py vector", () => {
    const secret = parseClientSecret('boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga');
    const si = asStorageIndex(base32Decode('vrttmwlicrzbt7gh5qsooogr7u'));
    const tubId = base32Decode('v67jiisoty6ooyxlql5fuucitqiok2ic');
    const bucket = bucketLeaseSecrets(fileLeaseSecrets(clientLeaseSecrets(secret), si), tubId);
    expect(base32Encode(bucket.renew)).toBe('osd6wmc5vz4g3ukg64sitmzlfiaaordutrez7oxdp5kkze7zp5zq');
  });

  it('differs per server and per file, and the cancel secret differs from the renew secret', () => {
    const secret = new Uint8Array(32).fill(1);
    const si1 = asStorageIndex(new Uint8Array(16).fill(1));
    const si2 = asStorageIndex(new Uint8Array(16).fill(2));
    const [s1, s2] = [generateKeyPair().serverId, generateKeyPair().serverId];
    const a = leaseSecretsFor(secret, si1, s1);
    const b = leaseSecretsFor(secret, si1, s2);
    const c = leaseSecretsFor(secret, si2, s1);
    expect(equalBytes(a.renew, b.renew)).toBe(false);
    expect(equalBytes(a.renew, c.renew)).toBe(false);
    expect(equalBytes(a.renew, a.cancel)).toBe(false);
    expect(a.renew.length).toBe(32);
  });

  it('rejects a client secret of the wrong length', () => {
    expect(() => parseClientSecret(base32Encode(new Uint8Array(20)))).toThrow(InputError);
    expect(() => clientLeaseSecrets(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe('upload secrets', () => {
  it('are the same for the same client, file and server, and differ when any of them does', () => {
    const c1 = new Uint8Array(32).fill(1);
    const c2 = new Uint8Array(32).fill(2);
    const si1 = asStorageIndex(new Uint8Array(16).fill(1));
    const si2 = asStorageIndex(new Uint8Array(16).fill(2));
    const [s1, s2] = [generateKeyPair().serverId, generateKeyPair().serverId];
    const u = uploadSecretFor(c1, si1, s1);
    expect(u.length).toBe(32);
    expect(uploadSecretFor(c1, si1, s1)).toEqual(u);
    for (const other of [
      uploadSecretFor(c2, si1, s1),
      uploadSecretFor(c1, si2, s1),
      uploadSecretFor(c1, si1, s2),
    ])
      expect(equalBytes(other, u)).toBe(false);
    // Nothing a server is sent for leases gives it away (different tags).
    const lease = leaseSecretsFor(c1, si1, s1);
    expect(equalBytes(lease.renew, u) || equalBytes(lease.cancel, u)).toBe(false);
    expect(() => uploadSecretFor(new Uint8Array(16), si1, s1)).toThrow(InputError);
  });
});

describe('per-file secrets bound per server', () => {
  it('give what leaseSecretsFor and uploadSecretFor give, whichever client secret came last', () => {
    const si = asStorageIndex(new Uint8Array(16).fill(7));
    const server = generateKeyPair().serverId;
    const a = new Uint8Array(32).fill(3);
    const b = new Uint8Array(32).fill(4);
    for (const secret of [a, b, a, b]) {
      const got = serverSecrets(fileSecrets(secret, si), server);
      const lease = leaseSecretsFor(secret, si, server);
      expect(equalBytes(got.renew, lease.renew)).toBe(true);
      expect(equalBytes(got.cancel, lease.cancel)).toBe(true);
      expect(equalBytes(got.upload, uploadSecretFor(secret, si, server))).toBe(true);
    }
    const renewA = serverSecrets(fileSecrets(a, si), server).renew;
    a[0] ^= 1; // a caller reusing its buffer must not leave stale secrets behind
    expect(equalBytes(serverSecrets(fileSecrets(a, si), server).renew, renewA)).toBe(false);
  });
});
