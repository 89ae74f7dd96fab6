import { CairnError } from '../errors.ts';

/**
 * Codes: BAD_PARAMS (k or N out of range), BAD_BLOCKS (wrong count or unequal lengths),
 * BAD_SHARES (share numbers repeated, out of range or not one per block), UNSUPPORTED
 * (the requested build cannot run in this engine), LOAD_FAILED (the .wasm could not be
 * read or compiled, e.g. not built yet), TOO_LARGE (blocks exceed wasm memory).
 */
export type CodecErrorCode =
  | 'BAD_PARAMS'
  | 'BAD_BLOCKS'
  | 'BAD_SHARES'
  | 'UNSUPPORTED'
  | 'LOAD_FAILED'
  | 'TOO_LARGE';

export class CodecError extends CairnError {
  declare readonly code: CodecErrorCode;
  constructor(code: CodecErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
