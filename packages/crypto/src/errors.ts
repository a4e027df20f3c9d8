import { SrmudpError, type SrmudpErrorClass } from '@srmudp/wire';

/**
 * Codes @srmudp/crypto throws (handshake failures are `failed` events, drops are counted, never
 * thrown): `CLOSED` a channel used after close, `NO_SESSION` sealing before a session exists,
 * `INVALID_PEER_ID` a peer id that is not a valid Ed25519 key or text form.
 */
export type CryptoErrorCode = 'CLOSED' | 'NO_SESSION' | 'INVALID_PEER_ID';

/** `SrmudpError` constructor restricted to CryptoErrorCode (`new CryptoError('…', message)`). */
export const CryptoError: SrmudpErrorClass<CryptoErrorCode> = SrmudpError;
