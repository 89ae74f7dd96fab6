/**
 * Every failure Cairn reports is a CairnError: a stable `code` for programs (CLI exit
 * paths, UI wording) and a message a person can act on. Messages never carry a cap,
 * key or plaintext: they name the field and the fault.
 */
export class CairnError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad input handed to a pure function (wrong length, out-of-range parameter). */
export class InputError extends CairnError {
  constructor(message: string, code = 'BAD_INPUT') {
    super(code, message);
  }
}
