import { SrmudpError } from '@srmudp/wire';

/** Codes of {@link RelayError}: misuse that depends on protocol state (argument errors are TypeError/RangeError). */
export type RelayErrorCode =
  /** the hop session to the relay is down: nothing can be requested */
  | 'RELAY_HOP_DOWN'
  /** too many requests waiting for an answer */
  | 'RELAY_TOO_MANY_REQUESTS'
  /** accept/reject of an INCOMING that is not (or no longer) waiting */
  | 'RELAY_UNKNOWN_INCOMING';

export class RelayError extends SrmudpError {
  declare readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string) {
    super(code, message);
    this.name = 'RelayError';
  }
}
