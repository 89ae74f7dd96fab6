/** Errors of the wire protocol itself (frames, identities, announcements), as opposed to storage operations. */
import { CairnError } from '../errors.ts';

export type ProtocolErrorCode =
  | 'BAD_FRAME'
  | 'BAD_SERVER_ID'
  | 'BAD_KEY'
  | 'BAD_REQUEST'
  | 'BAD_ANNOUNCEMENT'
  | 'HANDSHAKE_FAILED'
  | 'CONNECTION_FAILED'
  | 'RELAY_UNAVAILABLE'
  // The relay's refusals of an announcement that may succeed later (see relay/).
  | 'RATE_LIMITED'
  | 'RELAY_FULL'
  | 'ALREADY_LINKED';

export class ProtocolError extends CairnError {
  declare readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
