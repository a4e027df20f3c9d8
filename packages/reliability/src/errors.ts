/**
 * Error codes carried in CLOSE frames. Transport codes mirror QUIC's (RFC 9000 §20.1) so they
 * read the same in traces; applications use codes from APPLICATION_ERROR_BASE up (0 = no error).
 */
export const ErrorCode = {
  NO_ERROR: 0x0,
  INTERNAL_ERROR: 0x1,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_LIMIT_ERROR: 0x4,
  STREAM_STATE_ERROR: 0x5,
  FINAL_SIZE_ERROR: 0x6,
  FRAME_ENCODING_ERROR: 0x7,
  PROTOCOL_VIOLATION: 0xa,
  MESSAGE_TOO_LARGE: 0x11,
  /** local only, never sent: the peer was silent for the idle timeout (RFC 9000 §10.1) */
  IDLE_TIMEOUT: 0x12,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

/** Application close and stream reset codes should be at or above this. */
export const APPLICATION_ERROR_BASE = 0x100;

export function errorName(code: number): ErrorCodeName | null {
  for (const k of Object.keys(ErrorCode) as ErrorCodeName[]) if (ErrorCode[k] === code) return k;
  return null;
}

/**
 * A connection error found while processing a peer's frame: thrown by the frame handlers
 * (streams, messages, loss recovery), caught by `ReliableConnection.handlePacket`, which closes with
 * CLOSE(code). Internal: never reaches the application.
 */
export class ProtocolError {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {}
}
