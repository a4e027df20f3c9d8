/**
 * The one error base class of srmudp. `code` is stable and what tests and callers match on;
 * `message` is for humans. Every package throws this or a subclass (or TypeError/RangeError for
 * API misuse), never bare strings, and declares the codes it throws as a union (`C`):
 * `WireDecodeErrorCode` here, `CryptoErrorCode`, `ReliableErrorCode`, `CoreErrorCode`,
 * `NodeErrorCode` in the layers above.
 */
export class SrmudpError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SrmudpError';
  }
}

/**
 * `SrmudpError` as a constructor of one layer's codes only: `export const CoreError:
 * SrmudpErrorClass<CoreErrorCode> = SrmudpError`, then `new CoreError('LIMIT', …)` is checked
 * against the union (the object is an ordinary SrmudpError).
 */
export type SrmudpErrorClass<C extends string> = new (
  code: C,
  message: string,
  options?: { cause?: unknown },
) => SrmudpError<C>;

/**
 * The code of every failure because something was closed (a node, endpoint, connection or
 * channel). Three older spellings are still thrown where callers already match on them, and mean
 * exactly this: `NODE_CLOSED` (the srmudp façade), `ENDPOINT_CLOSED` and `CONNECTION_CLOSED`
 * (@srmudp/core, seen through the façade). Match with {@link isClosedError}.
 */
export type ClosedCode = 'CLOSED';
export type ClosedAlias = 'NODE_CLOSED' | 'ENDPOINT_CLOSED' | 'CONNECTION_CLOSED';
export const CLOSED_CODES: readonly (ClosedCode | ClosedAlias)[] = /* @__PURE__ */ Object.freeze([
  'CLOSED',
  'NODE_CLOSED',
  'ENDPOINT_CLOSED',
  'CONNECTION_CLOSED',
]);

/** True for an SrmudpError that means "closed", whichever spelling of {@link ClosedCode} it has. */
export function isClosedError(e: unknown): e is SrmudpError<ClosedCode | ClosedAlias> {
  return e instanceof SrmudpError && (CLOSED_CODES as readonly string[]).includes(e.code);
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
export class WireDecodeError extends SrmudpError<WireDecodeErrorCode> {
  constructor(code: WireDecodeErrorCode, message: string) {
    super(code, message);
    this.name = 'WireDecodeError';
  }
}
