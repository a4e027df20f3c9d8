import { SrmudpError, type SrmudpErrorClass } from '@srmudp/wire';

/**
 * Codes @srmudp/reliability throws at its API (peer errors close the connection with a
 * transport `ErrorCode` instead): `CLOSED` an operation on a connection that is no longer open,
 * `STREAM_LIMIT` a stream over the peer's MAX_STREAMS.
 */
export type ReliableErrorCode = 'CLOSED' | 'STREAM_LIMIT';

/** `SrmudpError` constructor restricted to ReliableErrorCode (`new ReliableError('…', message)`). */
export const ReliableError: SrmudpErrorClass<ReliableErrorCode> = SrmudpError;
