/**
 * The relay data plane: ChannelData (RFC 8656 §12.4's layout) carrying one complete end-to-end
 * srmudp packet between a client and its relay.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0 1 0 0|   channel (12 bits)   |      payload length (u16)     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        payload: one srmudp packet, sealed end to end          |
 *
 * The channel number is the whole first u16, 0x4000-0x4fff, so the first byte is 0x40-0x4f:
 * the range our demultiplexer leaves free (docs/architecture/wire-format.md §1). The length must
 * equal the bytes that follow exactly: UDP and WebSocket messages both keep datagram boundaries,
 * so TURN's padding for stream transports is not used. There is no second AEAD: the payload is
 * already sealed end to end; the channel is bound to the client's authenticated hop.
 */
import { WireDecodeError } from '@srmudp/wire';

export const CHANNEL_HEADER_LENGTH = 4;
/** Smallest and largest channel numbers (TURN's channel range, RFC 8656 §12). */
export const CHANNEL_MIN = 0x4000;
export const CHANNEL_MAX = 0x4fff;
/** Largest payload the 16-bit length can describe. */
export const MAX_CHANNEL_PAYLOAD = 0xffff;

export interface ChannelDatagram {
  readonly channel: number;
  /** The end-to-end packet: a view into the input (copy it before reusing the buffer). */
  readonly payload: Uint8Array;
}

/** True when the first byte puts a datagram in the channel-data range (0x40-0x4f). */
export function isChannelData(bytes: Uint8Array): boolean {
  const b = bytes[0];
  return b !== undefined && (b & 0xf0) === 0x40;
}

export function isChannelNumber(n: number): boolean {
  return Number.isInteger(n) && n >= CHANNEL_MIN && n <= CHANNEL_MAX;
}

/**
 * Hot-path check: the channel number of a well-formed channel datagram (header valid, length
 * exact, payload non-empty), or -1. Never throws, never allocates.
 */
export function peekChannel(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n <= CHANNEL_HEADER_LENGTH) return -1;
  const b0 = bytes[0]!;
  if ((b0 & 0xf0) !== 0x40) return -1;
  if (((bytes[2]! << 8) | bytes[3]!) !== n - CHANNEL_HEADER_LENGTH) return -1;
  return (b0 << 8) | bytes[1]!;
}

/**
 * Decodes a channel datagram. Total: returns a value or throws {@link WireDecodeError}
 * (`TRUNCATED`, `BAD_VALUE`, `TRAILING_BYTES`).
 */
export function decodeChannelData(bytes: Uint8Array): ChannelDatagram {
  if (bytes.length < CHANNEL_HEADER_LENGTH) {
    throw new WireDecodeError('TRUNCATED', `channel data needs 4 header bytes, got ${bytes.length}`);
  }
  const b0 = bytes[0]!;
  if ((b0 & 0xf0) !== 0x40) {
    throw new WireDecodeError('BAD_VALUE', `channel data first byte 0x${b0.toString(16)} outside 0x40-0x4f`);
  }
  const len = (bytes[2]! << 8) | bytes[3]!;
  const have = bytes.length - CHANNEL_HEADER_LENGTH;
  if (len === 0) throw new WireDecodeError('BAD_VALUE', 'channel data with an empty payload');
  if (have < len) throw new WireDecodeError('TRUNCATED', `channel data length ${len}, have ${have} bytes`);
  if (have > len)
    throw new WireDecodeError('TRAILING_BYTES', `channel data length ${len}, have ${have} bytes`);
  return { channel: (b0 << 8) | bytes[1]!, payload: bytes.subarray(CHANNEL_HEADER_LENGTH) };
}

/** Writes the 4-byte header at `offset` (the payload follows it). RangeError on bad arguments. */
export function writeChannelHeader(buf: Uint8Array, offset: number, channel: number, length: number): void {
  if (!isChannelNumber(channel)) {
    throw new RangeError(`"channel" expected integer in [0x4000, 0x4fff], got ${channel}`);
  }
  if (!Number.isInteger(length) || length < 1 || length > MAX_CHANNEL_PAYLOAD) {
    throw new RangeError(`"length" expected integer in [1, 65535], got ${length}`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + CHANNEL_HEADER_LENGTH > buf.length) {
    throw new RangeError(`channel header does not fit at offset ${offset} of ${buf.length}`);
  }
  buf[offset] = channel >>> 8;
  buf[offset + 1] = channel & 0xff;
  buf[offset + 2] = length >>> 8;
  buf[offset + 3] = length & 0xff;
}

/** A new datagram: header + a copy of `payload`. */
export function encodeChannelData(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHANNEL_HEADER_LENGTH + payload.length);
  writeChannelHeader(out, 0, channel, payload.length);
  out.set(payload, CHANNEL_HEADER_LENGTH);
  return out;
}

/** Largest end-to-end packet a relayed path carries: the hop's PMTU minus the channel header. */
export function relayedPmtu(hopPmtu: number): number {
  if (!Number.isInteger(hopPmtu) || hopPmtu <= CHANNEL_HEADER_LENGTH) {
    throw new RangeError(`"hopPmtu" expected integer > ${CHANNEL_HEADER_LENGTH}, got ${hopPmtu}`);
  }
  return Math.min(hopPmtu - CHANNEL_HEADER_LENGTH, MAX_CHANNEL_PAYLOAD);
}
