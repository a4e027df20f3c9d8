import { SrmudpError } from '@srmudp/wire';

/**
 * Codes @srmudp/crypto throws (handshake failures are `failed` events, drops are counted, never
 * thrown): `CLOSED` a channel used after close, `NO_SESSION` sealing before a session exists,
 * `INVALID_PEER_ID` a peer id that is not a valid Ed25519 key or text form.
 */
export type CryptoErrorCode = 'CLOSED' | 'NO_SESSION' | 'INVALID_PEER_ID';

export function cryptoError(
  code: CryptoErrorCode,
  message: string,
  options?: { cause?: unknown },
): SrmudpError<CryptoErrorCode> {
  return new SrmudpError(code, message, options);
}
