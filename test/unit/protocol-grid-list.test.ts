/**
 * The client's look at the relay's list (core/protocol/grid.ts) under a busy client: entries
 * already verified are not verified again, and a kept-alive connection the relay closed does
 * not fail the fetch.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Announcement, signAnnouncement } from '../../core/protocol/announcement.ts';
import {
  decodeServerList,
  encodeServerList,
  fetchGridServers,
  serverListSignatureChecks,
} from '../../core/protocol/grid.ts';
import { generateKeyPair } from '../../core/protocol/identity.ts';

const keys = Array.from({ length: 3 }, () => generateKeyPair());
const now = Date.now();
const announce = (i: number, seq = 1) => {
  const ann: Announcement = {
    serverId: keys[i].serverId,
    nickname: `s${i}`,
    url: null,
    availableSpace: 1e9,
    seq,
    expires: now + 600_000,
  };
  return signAnnouncement(keys[i], ann);
};

describe('decodeServerList', () => {
  it('checks each signed entry once, however often the same list comes', () => {
    const list = encodeServerList([announce(0), announce(1), announce(2)]);
    const before = serverListSignatureChecks();
    expect(decodeServerList(list, now).map((s) => s.nickname)).toEqual(['s0', 's1', 's2']);
    expect(serverListSignatureChecks() - before).toBe(3);
    for (let i = 0; i < 5; i++) expect(decodeServerList(list, now).length).toBe(3);
    expect(serverListSignatureChecks() - before).toBe(3);
    // A renewed announcement (new bytes) is checked; the unchanged ones are not.
    const renewed = encodeServerList([announce(0, 2), announce(1), announce(2)]);
    expect(decodeServerList(renewed, now)[0].seq).toBe(2);
    expect(serverListSignatureChecks() - before).toBe(4);
  });

  it('still refuses what does not verify, and judges expiry at each decode', () => {
    const a = announce(0, 3);
    const b = announce(1, 3);
    expect(decodeServerList(encodeServerList([a]), now).length).toBe(1);
    // a's signature (known good) on b's body: not the same bytes, so checked, and refused.
    expect(decodeServerList(encodeServerList([{ body: b.body, signature: a.signature }]), now)).toEqual([]);
    const tampered = a.body.slice();
    tampered[tampered.length - 1] ^= 1;
    expect(decodeServerList(encodeServerList([{ body: tampered, signature: a.signature }]), now)).toEqual([]);
    // Verified before, expired now: dropped, unless old news is asked for.
    const later = now + 700_000;
    expect(decodeServerList(encodeServerList([a]), later)).toEqual([]);
    expect(decodeServerList(encodeServerList([a]), later, true).length).toBe(1);
  });
});

describe('fetchGridServers', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('tries again when the connection is closed under it', async () => {
    const body = encodeServerList([announce(0)]);
    let requests = 0;
    server = http.createServer((req, res) => {
      requests++;
      // The second request finds its connection closed, as a kept-alive one the server timed out.
      if (requests === 2) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/cbor' }).end(body);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetchGridServers(url)).length).toBe(1);
    expect((await fetchGridServers(url)).length).toBe(1);
    expect(requests).toBe(3);
  });

  it('does not try again once the time is up', async () => {
    server = http.createServer(() => {}); // never answers
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const t0 = performance.now();
    await expect(fetchGridServers(url, { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'RELAY_UNAVAILABLE',
    });
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
