/** What `#http-get` shares in every runtime. */

/** A GET's answer: its status and whole body. */
export interface HttpGetResult {
  status: number;
  body: Uint8Array;
}

/** A GET's body is refused past this (a server list is far smaller). */
export const MAX_GET_BYTES = 16 * 1024 * 1024;
