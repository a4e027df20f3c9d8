import { SrmudpError } from '@srmudp/wire';

/** Codes thrown while decoding or checking a signed peer record. */
export type RecordErrorCode =
  | 'RECORD_FORGED' // signature does not verify, or the record names another peer than expected
  | 'STALE_RECORD' // sequence number is not newer than one already seen for this peer
  | 'RECORD_EXPIRED' // expiresAt (plus clock-skew tolerance) is in the past
  | 'RECORD_NOT_YET_VALID' // issuedAt is further in the future than the clock-skew tolerance
  | 'RECORD_TOO_LARGE' // more than MAX_RECORD_SIZE bytes encoded
  | 'RECORD_MALFORMED'; // truncated, trailing bytes, unknown version or an impossible field value

/** Codes thrown by rendezvous backends (see {@link RendezvousBackend}). */
export type BackendErrorCode =
  | 'STALE_SEQUENCE' // publish with a sequence number not above the stored one
  | 'TOO_LARGE' // value larger than the backend's capabilities.maxValueSize
  | 'UNAVAILABLE' // network, gateway or server failure, timeout, garbage answer
  | 'PAYMENT_REQUIRED' // the backend needs payment it cannot make (no wallet, no funds)
  | 'ABORTED' // the caller's AbortSignal fired
  | 'CLOSED'; // the backend (or Rendezvous) was closed

export type RendezvousErrorCode = RecordErrorCode | BackendErrorCode | 'INVALID_CARD' | 'NO_BACKEND';

/** Every error this package (and its backends) throws on bad input or failed I/O. */
export class RendezvousError extends SrmudpError {
  declare readonly code: RendezvousErrorCode;
  constructor(code: RendezvousErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RendezvousError';
  }
}

/** True when `error` is a RendezvousError with the given code (or any code when omitted). */
export function isRendezvousError(error: unknown, code?: RendezvousErrorCode): error is RendezvousError {
  return (
    error instanceof SrmudpError &&
    (error as SrmudpError).name === 'RendezvousError' &&
    (code === undefined || error.code === code)
  );
}

/** Throws RendezvousError('ABORTED') when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new RendezvousError('ABORTED', 'operation aborted', { cause: signal.reason });
  }
}
