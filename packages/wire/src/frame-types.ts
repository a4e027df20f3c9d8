import type { Frame } from './types.js';

/**
 * Frame type bytes (docs/architecture/wire-format.md §Frames). A frame starts with one type
 * byte in 0x00-0x3f; read as a QUIC varint (RFC 9000 §12.4) that is a 1-byte varint, so types
 * 0x40 and up stay free for 2-byte varint types in a later version. Today every byte >= 0x40 is
 * UNKNOWN_TYPE.
 */
export const FrameTypeByte = {
  Padding: 0x00,
  Ping: 0x01,
  Ack: 0x02,
  ResetStream: 0x04,
  StopSending: 0x05,
  /** 0x08-0x0f: 0x08 | OFF (0x04) | LEN (0x02) | FIN (0x01), as QUIC STREAM (RFC 9000 §19.8). */
  Stream: 0x08,
  MaxData: 0x10,
  MaxStreamData: 0x11,
  MaxStreams: 0x12,
  /** 0x18 ordered, 0x19 unordered (bit 0x01). */
  Message: 0x18,
  PathChallenge: 0x1a,
  PathResponse: 0x1b,
  Close: 0x1c,
  /**
   * CONTROL: MESSAGE's layout (id, offset, total, length, data) in its own ordered id space, for
   * protocols of the session itself (relay control messages; later gossip); never delivered to the
   * application. The message's first byte names the protocol (`ControlProtocol`).
   */
  Control: 0x1d,
  /** 0x30 without length (runs to the end of the packet), 0x31 with length (RFC 9221 §4). */
  Datagram: 0x30,
  Relay: 0x38,
} as const;

/** First byte of a CONTROL message: which protocol of the session it belongs to. */
export const ControlProtocol = {
  /** @srmudp/relay's control messages (RelayClient ⇄ RelayService) */
  Relay: 0x01,
  /**
   * Punch coordination between the two ends of a connection (candidates exchanged over a relayed
   * path, the simultaneous open timed from its RTT): the façade's, delivered as `punch` events.
   * (0x02 is the relay client → service direction of `Relay`.)
   */
  Punch: 0x03,
} as const;

export const STREAM_FLAG_OFF = 0x04;
export const STREAM_FLAG_LEN = 0x02;
export const STREAM_FLAG_FIN = 0x01;
export const MESSAGE_FLAG_UNORDERED = 0x01;
export const DATAGRAM_FLAG_LEN = 0x01;

/** PATH_CHALLENGE / PATH_RESPONSE payload length (RFC 9000 §19.17). */
export const PATH_DATA_LENGTH = 8;
/** RELAY peer id length (an Ed25519 public key). */
export const PEER_ID_LENGTH = 32;

/**
 * Whether a frame makes the receiver send an ACK (RFC 9002 §2: every frame except ACK, PADDING
 * and CLOSE). A packet is ack-eliciting when any of its frames is.
 */
export function isAckEliciting(frame: Frame): boolean {
  return frame.type !== 'ack' && frame.type !== 'padding' && frame.type !== 'close';
}
