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
  | 'RELAY_UNAVAILABLE';

export class ProtocolError extends CairnError {
  declare readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
