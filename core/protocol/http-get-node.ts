/**
 * `#http-get` in Node: node:http and node:https. Node's fetch loads its HTTP client (undici,
 * with web streams) on first use, ~50 ms of CPU at the start of every `cairn` command that
 * reads the relay's list; this costs ~15.
 */
import http from 'node:http';
import https from 'node:https';
import { type HttpGetResult, MAX_GET_BYTES } from './http-get.ts';

export { MAX_GET_BYTES };

/** Redirects followed at most (as fetch does: a relay behind a proxy may send http to https). */
const MAX_REDIRECTS = 5;

/** GET `url`: its status and whole body (at most MAX_GET_BYTES). Rejects on network errors and abort. */
export async function httpGetBytes(url: string, signal: AbortSignal): Promise<HttpGetResult> {
  for (let hops = 0; ; hops++) {
    const res = await getOnce(url, signal);
    if (!('location' in res)) return res;
    if (hops === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    url = new URL(res.location, url).href;
  }
}

function getOnce(url: string, signal: AbortSignal): Promise<HttpGetResult | { location: string }> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { signal }, (res) => {
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        resolve({ location: res.headers.location });
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_GET_BYTES) {
          req.destroy(new Error(`the answer is over ${MAX_GET_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status, body: new Uint8Array(Buffer.concat(chunks)) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}
