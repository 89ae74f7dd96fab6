/**
 * What a tab transfer costs Chromium beyond the primitives bound, each part measured alone in
 * the same run (issue #16 point 2): the work an upload cannot leave out whatever our code
 * does, so that its CPU can be judged against that as well as against the bound.
 *
 * - sending the share bytes over ten WebSockets to a sink that only counts and acknowledges
 *   them (1 MiB messages, at most 1 MiB unacknowledged per socket, as the app's writes);
 * - the streamed whole-file SHA-256 (hash-wasm, which the tab uses: WebCrypto has no
 *   streaming digest), timed in this Node process on the same V8 as the RS codec is.
 * (The third part, reading the File through one stream into a reused buffer as the app's
 * blobSource does, is bench:web's read baseline, whose CPU it samples.) For a download:
 * receiving the share bytes over three WebSockets, a window at a time.
 */
import { createServer } from 'node:http';
import { createSHA256 } from 'hash-wasm';
import { WebSocketServer } from 'ws';
import type { Cdp } from './web-cdp.ts';
import { CdpPage } from './web-cdp.ts';
import { chromiumCpuSeconds, sampleCpu } from './web-profile.ts';

const MiB = 1024 * 1024;
const MESSAGE = 1024 * 1024 + 100; // a batch of blocks and its frame header (share-writer.ts)
const WINDOW = 512 * 1024; // a download's read: share-reader.ts's largest window
const SAMPLE = 256 * MiB;

/** How a socket floor moves bytes: each exchange, the page sends `out` bytes and the source answers with `back`. */
interface Exchanges {
  sockets: number;
  /** Exchanges a socket has under way at once. */
  inFlight: number;
  out: number;
  back: number;
}

/**
 * Chromium CPU seconds to send `bytes` from a page over ten WebSockets to a local sink that
 * acknowledges each 1 MiB message, one unacknowledged a socket, as the app's share writes.
 */
export function sendFloorCpu(cdp: Cdp, gridPid: number, bytes: number): Promise<number> {
  return exchangeFloorCpu(cdp, gridPid, bytes, { sockets: 10, inFlight: 1, out: MESSAGE, back: 1 });
}

/**
 * Chromium CPU seconds for a page to receive `bytes` over three WebSockets (k servers) from a
 * local source that answers each small request with a 512 KiB window, two asked for at a time
 * a socket, as a download's share reader asks: what taking a download's share bytes off the
 * network costs Chromium, whatever is done with them.
 */
export function receiveFloorCpu(cdp: Cdp, gridPid: number, bytes: number): Promise<number> {
  return exchangeFloorCpu(cdp, gridPid, bytes, { sockets: 3, inFlight: 2, out: 64, back: WINDOW });
}

/**
 * Chromium CPU seconds for a page to move `bytes` in exchanges `x` with a local WebSocket
 * source that only answers, the page only counting (at most SAMPLE bytes moved, the CPU
 * scaled: it is linear in bytes).
 */
async function exchangeFloorCpu(cdp: Cdp, gridPid: number, bytes: number, x: Exchanges): Promise<number> {
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>floor</title>');
  });
  const wss = new WebSocketServer({ server: http, maxPayload: 2 * x.out });
  const answer = new Uint8Array(x.back);
  for (let o = 0; o < x.back; o += 65536) answer[o] = o & 255;
  wss.on('connection', (ws) => ws.on('message', () => ws.send(answer)));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as { port: number };
  const page = await CdpPage.load(cdp, `http://127.0.0.1:${port}/`);
  const unit = Math.max(x.out, x.back);
  try {
    const move = (total: number) =>
      page.evaluate<boolean>(`(async () => {
        const msg = new Uint8Array(${x.out});
        crypto.getRandomValues(msg.subarray(0, 65536));
        const count = Math.ceil(${total} / ${unit});
        const sockets = await Promise.all(Array.from({ length: ${x.sockets} }, () => new Promise((ok, fail) => {
          const ws = new WebSocket('ws://127.0.0.1:${port}/');
          ws.binaryType = 'arraybuffer';
          ws.onopen = () => ok(ws);
          ws.onerror = () => fail(new Error('the floor source is unreachable'));
        })));
        let next = 0;
        let got = 0;
        await Promise.all(sockets.map((ws) => new Promise((done) => {
          let waiting = 0;
          const pump = () => {
            while (waiting < ${x.inFlight} && next < count) { next++; waiting++; ws.send(msg); }
            if (waiting === 0 && next >= count) done();
          };
          ws.onmessage = (e) => { got += e.data.byteLength; waiting--; pump(); };
          pump();
        })));
        for (const ws of sockets) ws.close();
        return got === count * ${x.back};
      })()`);
    await move(16 * MiB); // untimed: a fresh browser's first exchanges cost several times more
    const before = await sampleCpu(cdp, gridPid);
    const sample = Math.min(bytes, SAMPLE);
    if (!(await move(sample))) throw new Error('a socket floor lost bytes');
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
