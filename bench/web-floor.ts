/**
 * What a tab transfer costs Chromium beyond the primitives bound, each part measured alone in
 * the same run (issue #16 point 2): the work an upload cannot leave out whatever our code
 * does, so that its CPU can be judged against that as well as against the bound.
 *
 * - sending the share bytes over ten WebSockets to a sink that only counts and acknowledges
 *   them (1 MiB messages, at most 1 MiB unacknowledged per socket, as the app's writes);
 * - the streamed whole-file SHA-256 (hash-wasm, which the tab uses: WebCrypto has no
 *   streaming digest), timed in this Node process on the same V8 as the RS codec is;
 * - for a download, receiving the share bytes over three WebSockets, a window at a time.
 * (The third part, reading the File through one stream into a reused buffer as the app's
 * blobSource does, is bench:web's read baseline, whose CPU it samples.)
 */
import { createServer } from 'node:http';
import { createSHA256 } from 'hash-wasm';
import { WebSocketServer } from 'ws';
import type { Cdp } from './web-cdp.ts';
import { CdpPage } from './web-cdp.ts';
import { chromiumCpuSeconds, sampleCpu } from './web-profile.ts';

const MiB = 1024 * 1024;
const MESSAGE = 1024 * 1024 + 100; // a batch of blocks and its frame header (share-writer.ts)
const SOCKETS = 10;
const IN_FLIGHT = 1; // 1 MiB a socket, as the app allows
const SEND_SAMPLE = 256 * MiB;

/**
 * Chromium CPU seconds to send `bytes` from a page over ten WebSockets to a local sink (at
 * most SEND_SAMPLE bytes sent, the CPU scaled: it is linear in bytes).
 */
export async function sendFloorCpu(cdp: Cdp, gridPid: number, bytes: number): Promise<number> {
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>sink</title>');
  });
  const wss = new WebSocketServer({ server: http, maxPayload: 2 * MESSAGE });
  wss.on('connection', (ws) => {
    const ack = new Uint8Array(1);
    ws.on('message', () => ws.send(ack));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as { port: number };
  const page = await CdpPage.load(cdp, `http://127.0.0.1:${port}/`);
  try {
    const send = (total: number) =>
      page.evaluate<boolean>(`(async () => {
        const msg = new Uint8Array(${MESSAGE});
        crypto.getRandomValues(msg.subarray(0, 65536));
        const count = Math.ceil(${total} / ${MESSAGE});
        const sockets = await Promise.all(Array.from({ length: ${SOCKETS} }, () => new Promise((ok, fail) => {
          const ws = new WebSocket('ws://127.0.0.1:${port}/');
          ws.binaryType = 'arraybuffer';
          ws.onopen = () => ok(ws);
          ws.onerror = () => fail(new Error('sink unreachable'));
        })));
        let next = 0;
        await Promise.all(sockets.map((ws) => new Promise((done) => {
          let unacked = 0;
          const pump = () => {
            while (unacked < ${IN_FLIGHT} && next < count) { next++; unacked++; ws.send(msg); }
            if (unacked === 0 && next >= count) done();
          };
          ws.onmessage = () => { unacked--; pump(); };
          pump();
        })));
        for (const ws of sockets) ws.close();
        return true;
      })()`);
    await send(16 * MiB); // untimed: a fresh browser's first sends cost several times more
    const before = await sampleCpu(cdp, gridPid);
    const sample = Math.min(bytes, SEND_SAMPLE);
    await send(sample);
    const after = await sampleCpu(cdp, gridPid);
    return chromiumCpuSeconds(before, after) * (bytes / sample);
  } finally {
    await cdp.send('Target.closeTarget', { targetId: page.targetId }).catch(() => {});
    wss.close();
    http.close();
  }
}

/** A download's read: a share window (share-reader.ts's largest), and how many a socket has asked for. */
const WINDOW = 512 * 1024;
const WINDOWS_ASKED = 2;
const READ_SOCKETS = 3; // k: a download reads from k servers

/**
 * Chromium CPU seconds for a page to receive `bytes` over three WebSockets from a local source
 * that answers each small request with a 512 KiB binary message, two asked for at a time per
 * socket (as a download's share reader asks for windows), the page only counting them: what
 * taking a download's share bytes off the network costs Chromium, whatever is done with them
 * (at most SEND_SAMPLE bytes received, the CPU scaled: it is linear in bytes).
 */
export async function receiveFloorCpu(cdp: Cdp, gridPid: number, bytes: number): Promise<number> {
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>source</title>');
  });
  const wss = new WebSocketServer({ server: http });
  const reply = new Uint8Array(WINDOW);
  for (let o = 0; o < WINDOW; o += 65536) reply[o] = o & 255;
  wss.on('connection', (ws) => ws.on('message', () => ws.send(reply)));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as { port: number };
  const page = await CdpPage.load(cdp, `http://127.0.0.1:${port}/`);
  try {
    const receive = (total: number) =>
      page.evaluate<boolean>(`(async () => {
        const count = Math.ceil(${total} / ${WINDOW});
        const ask = new Uint8Array(64);
        const sockets = await Promise.all(Array.from({ length: ${READ_SOCKETS} }, () => new Promise((ok, fail) => {
          const ws = new WebSocket('ws://127.0.0.1:${port}/');
          ws.binaryType = 'arraybuffer';
          ws.onopen = () => ok(ws);
          ws.onerror = () => fail(new Error('source unreachable'));
        })));
        let asked = 0;
        let got = 0;
        await Promise.all(sockets.map((ws) => new Promise((done) => {
          let waiting = 0;
          const pump = () => {
            while (waiting < ${WINDOWS_ASKED} && asked < count) { asked++; waiting++; ws.send(ask); }
            if (waiting === 0 && asked >= count) done();
          };
          ws.onmessage = (e) => { got += e.data.byteLength; waiting--; pump(); };
          pump();
        })));
        for (const ws of sockets) ws.close();
        return got === count * ${WINDOW};
      })()`);
    await receive(16 * MiB); // untimed, as the send floor's first sends
    const before = await sampleCpu(cdp, gridPid);
    const sample = Math.min(bytes, SEND_SAMPLE);
    if (!(await receive(sample))) throw new Error('the receive floor lost bytes');
    const after = await sampleCpu(cdp, gridPid);
    return chromiumCpuSeconds(before, after) * (bytes / sample);
  } finally {
    await cdp.send('Target.closeTarget', { targetId: page.targetId }).catch(() => {});
    wss.close();
    http.close();
  }
}

/** CPU seconds of hash-wasm's streamed SHA-256 over `bytes`, in 128 KiB updates (sampled, scaled). */
export async function streamedHashCpu(bytes: number): Promise<number> {
  const sample = Math.min(bytes, 64 * MiB);
  const data = new Uint8Array(sample);
  for (let o = 0; o < sample; o += 4096) data[o] = o & 255;
  const h = await createSHA256();
  const pass = () => {
    h.init();
    for (let o = 0; o < sample; o += 128 * 1024) h.update(data.subarray(o, o + 128 * 1024));
    h.digest('binary');
  };
  pass(); // warm: the first pass runs partly before V8 has optimised the wasm
  const t = process.cpuUsage();
  pass();
  const d = process.cpuUsage(t);
  return ((d.user + d.system) / 1e6) * (bytes / sample);
}
