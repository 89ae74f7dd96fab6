/** What nodes need from the grid they were opened on. */
import type { EncodeTools } from '../immutable/encoder.ts';
import type { StorageConnection } from '../protocol/client.ts';

export interface NodeContext {
  /** Connected servers; rejects with NoServersError when none answers. */
  servers(): Promise<StorageConnection[]>;
  /** Codec and crypto for decoding (and encoding, for writers). */
  tools(): Promise<EncodeTools>;
  /** The client's lease secret (leases are renewed with secrets derived from it). */
  secrets(): Promise<{ lease: Uint8Array }>;
}

export interface MutableContext extends NodeContext {
  /** Random bytes (salts). */
  random(length: number): Uint8Array;
  /** k and N for a file that has no version yet. */
  defaults: { k: number; n: number };
}
