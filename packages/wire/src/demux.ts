/**
 * First-byte demultiplexing of one UDP socket between STUN and srmudp (RFC 7983 §7): STUN
 * messages start with 0b00 (bytes 0-3 as the first byte), srmudp packets with 0b10
 * (0x80-0xbf, the range RFC 7983 gives RTP/RTCP, which srmudp never carries).
 */
import { PacketType } from './types.js';

/** RFC 8489 §6 magic cookie. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_LENGTH = 20;

export type DatagramKind = 'stun' | 'srmudp' | 'unknown';

/** True for the first byte of a known srmudp packet type. */
export function isSrmudpType(firstByte: number): boolean {
  return (
    firstByte === PacketType.HandshakeInit ||
    firstByte === PacketType.HandshakeResponse ||
    firstByte === PacketType.HandshakeFinal ||
    firstByte === PacketType.CookieReply ||
    (firstByte & 0xfe) === PacketType.Data
  );
}

/**
 * Which decoder a datagram belongs to. 'stun': first two bits 00, magic cookie at bytes 4-7,
 * length field a multiple of 4 and equal to the datagram length - 20 (RFC 8489 §6). 'srmudp': a
 * known srmudp packet type in 0x80-0xbf. Anything else is 'unknown' (drop it). Does not allocate.
 */
export function classifyDatagram(bytes: Uint8Array): DatagramKind {
  const first = bytes[0];
  if (first === undefined) return 'unknown';
  if (first >> 6 === 0) {
    if (bytes.length < STUN_HEADER_LENGTH) return 'unknown';
    const len = (bytes[2]! << 8) | bytes[3]!;
    if ((len & 3) !== 0 || len + STUN_HEADER_LENGTH !== bytes.length) return 'unknown';
    const cookie = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0;
    return cookie === STUN_MAGIC_COOKIE ? 'stun' : 'unknown';
  }
  return (first & 0xc0) === 0x80 && isSrmudpType(first) ? 'srmudp' : 'unknown';
}
