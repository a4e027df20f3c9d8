import { SrmudpError } from '@srmudp/wire';

/** Codes of {@link RelayServerError}. */
export type RelayServerErrorCode =
  /** a flag, environment variable or config file value is invalid (message lists every problem) */
  | 'CONFIG_INVALID'
  /** the config file cannot be read or is not JSON */
  | 'CONFIG_FILE'
  /** a TLS certificate or key file cannot be read */
  | 'TLS_FILE'
  /** a port could not be bound */
  | 'LISTEN_FAILED';

export class RelayServerError extends SrmudpError {
  declare readonly code: RelayServerErrorCode;
  constructor(code: RelayServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RelayServerError';
  }
}
