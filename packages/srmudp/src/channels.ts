/**
 * The façade's own messages (gossip frames, blob fetches) share a connection's reliable message
 * channel with the application's messages. wire-format.md §13 has the layout:
 *
 *   application message not starting with 0xf7   sent as it is (no byte added)
 *   application message starting with 0xf7       0xf7 0x00 message        (escaped)
 *   façade message                               0xf7 channel:u8 body     (channel ≥ 0x01)
 *
 * 0xf7 never starts UTF-8 text, so text messages never pay the escape; binary messages that start
 * with it pay two bytes. Both ends must run this framing (every srmudp node since the group API).
 */
export const INTERNAL_PREFIX = 0xf7;

export const CHANNEL = {
  /** an escaped application message */
  app: 0x00,
  /** one @srmudp/gossip frame */
  gossip: 0x01,
  /** blob fetch request: request id u32 (big-endian) ‖ hash (32 bytes) */
  blobRequest: 0x02,
  /** blob fetch reply: request id u32 ‖ found u8 (0 or 1) ‖ the blob's bytes when found */
  blobReply: 0x03,
} as const;
export type Channel = (typeof CHANNEL)[keyof typeof CHANNEL];

/** The bytes to send for an application message (escaped when it starts with the prefix). */
export function encodeAppMessage(data: Uint8Array): Uint8Array {
  if (data.length === 0 || data[0] !== INTERNAL_PREFIX) return data;
  return encodeInternal(CHANNEL.app, data);
}

/** The bytes to send for a façade message on `channel`. */
export function encodeInternal(channel: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 2);
  out[0] = INTERNAL_PREFIX;
  out[1] = channel;
  out.set(body, 2);
  return out;
}

export type DecodedMessage =
  | { kind: 'app'; data: Uint8Array }
  | { kind: 'internal'; channel: number; body: Uint8Array }
  /** the prefix alone (no channel byte): dropped and counted */
  | { kind: 'malformed' };

/** Splits a received message into an application message or a façade message. Total. */
export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  if (bytes.length === 0 || bytes[0] !== INTERNAL_PREFIX) return { kind: 'app', data: bytes };
  if (bytes.length < 2) return { kind: 'malformed' };
  const channel = bytes[1] as number;
  if (channel === CHANNEL.app) return { kind: 'app', data: bytes.subarray(2) };
  return { kind: 'internal', channel, body: bytes.subarray(2) };
}
