/** Grid manager certificates and invitations: pure functions, bytes in and out. */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { decodeInvitation, encodeInvitation, invitationLink } from '../../core/client/invite.ts';
import { decodeAnnouncement, signAnnouncement } from '../../core/protocol/announcement.ts';
import {
  certificateFromText,
  certificateToText,
  certifiedBy,
  gridManagerId,
  parseGridManagerId,
  signCertificate,
} from '../../core/protocol/grid-manager.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';

function manager() {
  const secret = ed25519.utils.randomSecretKey();
  return { secret, id: gridManagerId(ed25519.getPublicKey(secret)) };
}

describe('grid manager certificates', () => {
  const now = 1_800_000_000_000;
  const server = generateKeyPair();
  const gm = manager();
  const cert = signCertificate(gm.secret, { serverId: server.serverId, expires: now + 1000 });

  it('certify the server they name, until they expire, for the manager that signed them', () => {
    expect(certifiedBy([cert], server.serverId, [gm.id], now)).toBe(gm.id);
    expect(certifiedBy([cert], server.serverId, [gm.id], now + 1000)).toBeNull();
    expect(certifiedBy([cert], generateKeyPair().serverId, [gm.id], now)).toBeNull();
    expect(certifiedBy([cert], server.serverId, [manager().id], now)).toBeNull();
    expect(certifiedBy([cert], server.serverId, [manager().id, gm.id], now)).toBe(gm.id);
    expect(certifiedBy([], server.serverId, [gm.id], now)).toBeNull();
  });

  it('a certificate with one bit changed certifies nothing', () => {
    for (let i = 0; i < cert.body.length; i++) {
      const body = cert.body.slice();
      body[i] ^= 1;
      expect(certifiedBy([{ body, signature: cert.signature }], server.serverId, [gm.id], now)).toBeNull();
    }
    const signature = cert.signature.slice();
    signature[7] ^= 0x10;
    expect(certifiedBy([{ body: cert.body, signature }], server.serverId, [gm.id], now)).toBeNull();
  });

  it('round-trip through their file form and inside a signed announcement', () => {
    const back = certificateFromText(certificateToText(cert));
    expect(certifiedBy([back], server.serverId, [gm.id], now)).toBe(gm.id);
    expect(() => certificateFromText('{"body": "zz"}')).toThrow(/body.*signature/);
    const signed = signAnnouncement(server, {
      serverId: server.serverId,
      nickname: 'n',
      url: null,
      availableSpace: 1,
      seq: 1,
      expires: now,
      certificates: [cert],
    });
    const ann = decodeAnnouncement(signed);
    expect(certifiedBy(ann.certificates ?? [], ann.serverId, [gm.id], now)).toBe(gm.id);
    // No certificate: no `gm` field, the body exactly as before certificates existed.
    const plain = decodeAnnouncement(signAnnouncement(server, { ...ann, certificates: undefined }));
    expect(plain.certificates).toBeUndefined();
  });

  it('manager ids are checked', () => {
    expect(parseGridManagerId(` ${gm.id}\n`)).toBe(gm.id);
    expect(() => parseGridManagerId(server.serverId)).toThrow(/gm-v0-/);
    expect(() => parseGridManagerId(`gm-v0-${'a'.repeat(52)}`)).toThrow(/gm-v0-/);
  });
});

describe('invitations', () => {
  it('carry grid URLs and manager ids, as a code or a link', () => {
    const inv = {
      grid: ['http://127.0.0.1:3457', 'ws://10.0.0.2:4000/v1/storage'],
      gridManagers: [manager().id],
    };
    const code = encodeInvitation(inv);
    expect(code).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeInvitation(code)).toEqual(inv);
    const link = invitationLink('http://127.0.0.1:3457/', inv);
    expect(link).toBe(`http://127.0.0.1:3457/#/join/${code}`);
    expect(decodeInvitation(link)).toEqual(inv);
    expect(() => decodeInvitation('hello world')).toThrow(/not an invitation/);
    expect(() => decodeInvitation(code.slice(0, -4))).toThrow(/BAD|not a usable invitation/);
    expect(() => encodeInvitation({ grid: [], gridManagers: [] })).toThrow(/1 to 16/);
  });
});
