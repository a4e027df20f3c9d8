/**
 * The decoded forms of srmudp frames and packets. This file is the contract between the codec
 * and its users (crypto, reliability, core); the byte layouts are in
 * docs/architecture/wire-format.md. All integers are JS numbers in [0, 2^53-1]; 32-bit fields
 * are unsigned.
 */

/** srmudp wire format version (handshake packets carry it; the Noise prologue binds it). */
export const WIRE_VERSION = 1;

/** First byte of every srmudp packet. STUN messages start with 0b00 (0x00-0x3f), so srmudp
 * packets use 0x80-0xbf (first bits 0b10), the range RFC 7983 leaves to RTP, which we never mux. */
export const PacketType = {
  HandshakeInit: 0x81,
  HandshakeResponse: 0x82,
  HandshakeFinal: 0x83, // third message of Noise XX
  CookieReply: 0x84,
  Data: 0x90, // 0x90 | keyPhase (0 or 1)
} as const;

/** Noise pattern carried in handshake packets. */
export const HandshakePattern = { IK: 0, XX: 1 } as const;
export type HandshakePatternId = (typeof HandshakePattern)[keyof typeof HandshakePattern];

export const MAC_LENGTH = 16;
/** Bytes before the sealed payload of a data packet: type(1) + receiver index(4) + packet number(8). */
export const DATA_HEADER_LENGTH = 13;
export const AEAD_TAG_LENGTH = 16;
/** Header + AEAD tag of a data packet (DESIGN.md §3: at most 32). */
export const DATA_OVERHEAD = DATA_HEADER_LENGTH + AEAD_TAG_LENGTH;

/** Handshake packet (init, response, XX final): noise message plus WireGuard-style MACs.
 * mac1 = keyed MAC over every byte before it (keyed by the responder's static key; all-zero
 * when the responder's key is unknown, as in XX); mac2 = cookie MAC or all zero. */
export interface HandshakePacket {
  type: 'handshake_init' | 'handshake_response' | 'handshake_final';
  version: number;
  pattern: HandshakePatternId;
  senderIndex: number;
  /** 0 in handshake_init. */
  receiverIndex: number;
  noise: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

/** Stateless cookie reply (WireGuard §5.4.7 style): cookie sealed with XChaCha20-Poly1305. */
export interface CookieReplyPacket {
  type: 'cookie_reply';
  receiverIndex: number;
  nonce: Uint8Array; // 24 bytes
  sealedCookie: Uint8Array; // 32 bytes (16-byte cookie + 16-byte tag)
}

/** Data packet: header in clear (it is the AEAD's associated data), payload sealed. */
export interface DataPacket {
  type: 'data';
  keyPhase: 0 | 1;
  receiverIndex: number;
  packetNumber: number;
  /** ciphertext || tag */
  sealed: Uint8Array;
}

export type Packet = HandshakePacket | CookieReplyPacket | DataPacket;

/** Inclusive packet-number range. */
export interface AckRange {
  start: number;
  end: number;
}

export interface PaddingFrame {
  type: 'padding';
  /** number of zero bytes (a run of PADDING bytes decodes as one frame) */
  length: number;
}
export interface PingFrame {
  type: 'ping';
}
export interface AckFrame {
  type: 'ack';
  /** microseconds the receiver held the largest packet before acking */
  delay: number;
  /** disjoint, in descending order; ranges[0].end is the largest acknowledged */
  ranges: AckRange[];
}
export interface StreamFrame {
  type: 'stream';
  streamId: number;
  offset: number;
  fin: boolean;
  data: Uint8Array;
}
export interface ResetStreamFrame {
  type: 'reset_stream';
  streamId: number;
  code: number;
  finalSize: number;
}
export interface StopSendingFrame {
  type: 'stop_sending';
  streamId: number;
  code: number;
}
export interface MaxDataFrame {
  type: 'max_data';
  max: number;
}
export interface MaxStreamDataFrame {
  type: 'max_stream_data';
  streamId: number;
  max: number;
}
export interface MaxStreamsFrame {
  type: 'max_streams';
  /** cumulative count of streams the peer may open */
  max: number;
}
/** A fragment of a message; a message arrives whole or not at all. */
export interface MessageFrame {
  type: 'message';
  /** per-connection message sequence number */
  id: number;
  /** byte offset of this fragment within the message */
  offset: number;
  /** total message length */
  total: number;
  unordered: boolean;
  data: Uint8Array;
  /**
   * a CONTROL frame (type 0x1d): a message of the session's own protocols (relay control), in
   * its own ordered id space, never delivered to the application; `unordered` is then false
   */
  control?: boolean;
}
export interface DatagramFrame {
  type: 'datagram';
  data: Uint8Array;
}
export interface PathChallengeFrame {
  type: 'path_challenge';
  data: Uint8Array; // 8 bytes
}
export interface PathResponseFrame {
  type: 'path_response';
  data: Uint8Array; // 8 bytes
}
/** Relayed packet: to a relay, `peer` is the target; from a relay, `peer` is the source. */
export interface RelayFrame {
  type: 'relay';
  peer: Uint8Array; // 32-byte peer id
  payload: Uint8Array;
}
export interface CloseFrame {
  type: 'close';
  code: number;
  reason: string;
}

export type Frame =
  | PaddingFrame
  | PingFrame
  | AckFrame
  | StreamFrame
  | ResetStreamFrame
  | StopSendingFrame
  | MaxDataFrame
  | MaxStreamDataFrame
  | MaxStreamsFrame
  | MessageFrame
  | DatagramFrame
  | PathChallengeFrame
  | PathResponseFrame
  | RelayFrame
  | CloseFrame;

export type FrameType = Frame['type'];
