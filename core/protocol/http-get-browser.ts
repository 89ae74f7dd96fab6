/** `#http-get` in browsers and workers: the platform's fetch. */
import { type HttpGetResult, MAX_GET_BYTES } from './http-get.ts';

export { MAX_GET_BYTES };

/** GET `url`: its status and whole body (at most MAX_GET_BYTES). Rejects on network errors and abort. */
export async function httpGetBytes(url: string, signal: AbortSignal): Promise<HttpGetResult> {
  const res = await fetch(url, { signal });
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > MAX_GET_BYTES) throw new Error(`the answer is over ${MAX_GET_BYTES} bytes`);
  return { status: res.status, body };
}
