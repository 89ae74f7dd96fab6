/**
 * Frames on a relay link: the one WebSocket a relay-only server keeps open to the relay,
 * carrying many client channels. Each message is `kind (1 byte) ‖ channel (u32 BE) ‖ payload`.
 * The relay reads the 5-byte head only; payloads are storage-protocol frames it passes on
 * untouched. CONTROL messages (channel 0) carry CBOR: announcements and their answers.
 */
import { ProtocolError } from './errors.ts';
import { RELAY_ENVELOPE_BYTES } from './limits.ts';

export const EnvelopeKind = {
  /** relay → server: a client opened channel N. */
  Open: 1,
  /** either way: one frame on channel N. */
  Data: 2,
  /** either way: channel N is closed. */
  Close: 3,
  /** either way, channel 0: CBOR control message. */
  Control: 4,
} as const;
export type EnvelopeKind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

export interface Envelope {
  kind: EnvelopeKind;
  channel: number;
  payload: Uint8Array;
}

export function encodeEnvelope(
  kind: EnvelopeKind,
  channel: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(RELAY_ENVELOPE_BYTES + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, channel >>> 0);
  out.set(payload, RELAY_ENVELOPE_BYTES);
  return out;
}

/**
 * The envelope of `payload` written in the `RELAY_ENVELOPE_BYTES` just before it in its
 * buffer, which the caller owns and sets aside for this (a server's read replies are laid
 * out so): the same bytes as encodeEnvelope, without copying the payload.
 */
export function encodeEnvelopeInPlace(kind: EnvelopeKind, channel: number, payload: Uint8Array): Uint8Array {
  if (payload.byteOffset < RELAY_ENVELOPE_BYTES) {
    throw new RangeError('no room for the relay envelope before the payload');
  }
  const out = new Uint8Array(
    payload.buffer,
    payload.byteOffset - RELAY_ENVELOPE_BYTES,
    RELAY_ENVELOPE_BYTES + payload.length,
  );
  out[0] = kind;
  new DataView(out.buffer, out.byteOffset, RELAY_ENVELOPE_BYTES).setUint32(1, channel >>> 0);
  return out;
}

export function decodeEnvelope(msg: Uint8Array): Envelope {
  if (msg.length < RELAY_ENVELOPE_BYTES) throw new ProtocolError('BAD_FRAME', 'relay envelope is truncated');
  const kind = msg[0];
  if (kind < EnvelopeKind.Open || kind > EnvelopeKind.Control) {
    throw new ProtocolError('BAD_FRAME', `unknown relay envelope kind ${kind}`);
  }
  const channel = new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint32(1);
  return { kind: kind as EnvelopeKind, channel, payload: msg.subarray(RELAY_ENVELOPE_BYTES) };
}
