/**
 * The one error base class of srmudp. `code` is stable and what tests and callers match on;
 * `message` is for humans. Every package throws subclasses of this (or TypeError/RangeError for
 * API misuse), never bare strings.
 */
export class SrmudpError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SrmudpError';
  }
}

/** Codes of {@link WireDecodeError}. */
export type WireDecodeErrorCode =
  | 'TRUNCATED' // input ended inside a field
  | 'UNKNOWN_TYPE' // unknown packet or frame type
  | 'BAD_VALUE' // a field holds a value the format forbids
  | 'VARINT_RANGE' // varint above Number.MAX_SAFE_INTEGER
  | 'NOT_STUN' // not a STUN message
  | 'BAD_FINGERPRINT'
  | 'TRAILING_BYTES'
  | 'UNSUPPORTED_VERSION' // handshake packet of another wire version
  | 'BAD_INTEGRITY'; // STUN MESSAGE-INTEGRITY does not verify

/** Thrown by every decoder on malformed input, and nothing else is. */
export class WireDecodeError extends SrmudpError {
  declare readonly code: WireDecodeErrorCode;
  constructor(code: WireDecodeErrorCode, message: string) {
    super(code, message);
    this.name = 'WireDecodeError';
  }
}
