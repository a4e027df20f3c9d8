/**
 * Packet codec: handshake, cookie reply and data packets (docs/architecture/wire-format.md).
 * Every multi-byte integer is big-endian (network order).
 */

import { readU32, writeU32, writeU64 } from './bytes.js';
import { WireDecodeError } from './errors.js';
import { checkU32, Reader, readU64 } from './reader.js';
import {
  AEAD_TAG_LENGTH,
  DATA_HEADER_LENGTH,
  type DataPacket,
  type HandshakePacket,
  HandshakePattern,
  MAC_LENGTH,
  type Packet,
  PacketType,
  WIRE_VERSION,
} from './types.js';
import { checkVarint } from './varint.js';

/** type(1) version(1) pattern(1) sender index(4) receiver index(4), before the Noise message. */
export const HANDSHAKE_HEADER_LENGTH = 11;
/** Both MACs at the end of a handshake packet. */
export const HANDSHAKE_TRAILER_LENGTH = 2 * MAC_LENGTH;
export const COOKIE_NONCE_LENGTH = 24;
export const SEALED_COOKIE_LENGTH = 32;
/** type(1) receiver index(4) nonce(24) sealed cookie(32). */
export const COOKIE_REPLY_LENGTH = 1 + 4 + COOKIE_NONCE_LENGTH + SEALED_COOKIE_LENGTH;

const HANDSHAKE_TYPES = {
  handshake_init: PacketType.HandshakeInit,
  handshake_response: PacketType.HandshakeResponse,
  handshake_final: PacketType.HandshakeFinal,
} as const;

/** Length of a handshake packet that carries a Noise message of `noiseLength` bytes. */
export function handshakePacketSize(noiseLength: number): number {
  return HANDSHAKE_HEADER_LENGTH + noiseLength + HANDSHAKE_TRAILER_LENGTH;
}

/**
 * Where the MACs of an encoded handshake packet are. mac1 covers `bytes.subarray(0, mac1)`,
 * mac2 covers `bytes.subarray(0, mac2)` (WireGuard §5.4.4). Throws WireDecodeError `TRUNCATED`
 * when `bytes` is shorter than a handshake packet with an empty Noise message.
 */
export function handshakeMacOffsets(bytes: Uint8Array): { mac1: number; mac2: number } {
  if (bytes.length < HANDSHAKE_HEADER_LENGTH + HANDSHAKE_TRAILER_LENGTH) {
    throw new WireDecodeError('TRUNCATED', `handshake packet of ${bytes.length} bytes is too short`);
  }
  return { mac1: bytes.length - 2 * MAC_LENGTH, mac2: bytes.length - MAC_LENGTH };
}

/** Exact encoded length of `p`. */
export function packetSize(p: Packet): number {
  switch (p.type) {
    case 'handshake_init':
    case 'handshake_response':
    case 'handshake_final':
      return handshakePacketSize(p.noise.length);
    case 'cookie_reply':
      return COOKIE_REPLY_LENGTH;
    case 'data':
      return DATA_HEADER_LENGTH + p.sealed.length;
    default:
      throw new TypeError(`unknown packet type ${JSON.stringify((p as { type: unknown }).type)}`);
  }
}

function checkFixed(name: string, v: unknown, len: number): void {
  if (!(v instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array`);
  if (v.length !== len) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${len}, got length=${v.length}`);
  }
}

function checkPacket(p: Packet): void {
  switch (p.type) {
    case 'handshake_init':
    case 'handshake_response':
    case 'handshake_final':
      if (!Number.isInteger(p.version) || p.version < 0 || p.version > 0xff) {
        throw new RangeError(`"version" expected integer in [0, 255], got ${p.version}`);
      }
      if (p.pattern !== HandshakePattern.IK && p.pattern !== HandshakePattern.XX) {
        throw new RangeError(`"pattern" expected 0 (IK) or 1 (XX), got ${p.pattern}`);
      }
      checkU32('senderIndex', p.senderIndex);
      checkU32('receiverIndex', p.receiverIndex);
      if (p.type === 'handshake_final' && p.pattern !== HandshakePattern.XX) {
        throw new RangeError(`"pattern" expected 1 (XX) in handshake_final, got ${p.pattern}`);
      }
      if (p.type === 'handshake_init' && p.receiverIndex !== 0) {
        throw new RangeError(`"receiverIndex" expected 0 in handshake_init, got ${p.receiverIndex}`);
      }
      if (!(p.noise instanceof Uint8Array)) throw new TypeError('"noise" expected Uint8Array');
      checkFixed('mac1', p.mac1, MAC_LENGTH);
      checkFixed('mac2', p.mac2, MAC_LENGTH);
      return;
    case 'cookie_reply':
      checkU32('receiverIndex', p.receiverIndex);
      checkFixed('nonce', p.nonce, COOKIE_NONCE_LENGTH);
      checkFixed('sealedCookie', p.sealedCookie, SEALED_COOKIE_LENGTH);
      return;
    case 'data':
      checkDataHeader(p.keyPhase, p.receiverIndex, p.packetNumber);
      if (!(p.sealed instanceof Uint8Array)) throw new TypeError('"sealed" expected Uint8Array');
      if (p.sealed.length < AEAD_TAG_LENGTH) {
        throw new RangeError(
          `"sealed" expected at least ${AEAD_TAG_LENGTH} bytes, got length=${p.sealed.length}`,
        );
      }
      return;
  }
}

function checkDataHeader(keyPhase: number, receiverIndex: number, packetNumber: number): void {
  if (keyPhase !== 0 && keyPhase !== 1) throw new RangeError(`"keyPhase" expected 0 or 1, got ${keyPhase}`);
  checkU32('receiverIndex', receiverIndex);
  checkVarint('packetNumber', packetNumber);
}

/**
 * Writes the 13-byte data packet header (the AEAD associated data) and returns the offset where
 * the sealed payload goes. RangeError on bad values or too small a buffer.
 */
export function writeDataHeader(
  buf: Uint8Array,
  offset: number,
  keyPhase: 0 | 1,
  receiverIndex: number,
  packetNumber: number,
): number {
  checkDataHeader(keyPhase, receiverIndex, packetNumber);
  if (!Number.isInteger(offset) || offset < 0 || offset + DATA_HEADER_LENGTH > buf.length) {
    throw new RangeError(`data header does not fit at offset ${offset} of ${buf.length}`);
  }
  buf[offset] = PacketType.Data | keyPhase;
  writeU32(buf, offset + 1, receiverIndex);
  writeU64(buf, offset + 5, packetNumber);
  return offset + DATA_HEADER_LENGTH;
}

/**
 * Parses a data packet without copying: `sealed` is `bytes.subarray(13)` and the associated data
 * is `bytes.subarray(0, DATA_HEADER_LENGTH)`. Throws WireDecodeError `UNKNOWN_TYPE` when the
 * first byte is not a data type, `TRUNCATED` when shorter than header + tag, `BAD_VALUE` when
 * the packet number exceeds 2^53-1.
 */
export function readDataHeader(bytes: Uint8Array): DataPacket {
  const t = bytes.length > 0 ? bytes[0]! : -1;
  if ((t & 0xfe) !== PacketType.Data) {
    throw new WireDecodeError('UNKNOWN_TYPE', `not a data packet (first byte ${t})`);
  }
  if (bytes.length < DATA_HEADER_LENGTH + AEAD_TAG_LENGTH) {
    throw new WireDecodeError(
      'TRUNCATED',
      `data packet of ${bytes.length} bytes is shorter than header + tag`,
    );
  }
  return {
    type: 'data',
    keyPhase: (t & 1) as 0 | 1,
    receiverIndex: readU32(bytes, 1),
    packetNumber: readU64(bytes, 5, 'packet number'),
    sealed: bytes.subarray(DATA_HEADER_LENGTH),
  };
}

/**
 * The receiver index of any srmudp packet that has one, without allocating (demultiplexing a
 * socket to sessions): data and cookie reply packets carry it at byte 1, handshake response and
 * final at byte 7. Returns -1 for handshake_init (no receiver yet) or anything else.
 */
export function peekReceiverIndex(bytes: Uint8Array): number {
  const t = bytes[0];
  if (t === undefined) return -1;
  if ((t & 0xfe) === PacketType.Data || t === PacketType.CookieReply) {
    return bytes.length >= 5 ? readU32(bytes, 1) : -1;
  }
  if (t === PacketType.HandshakeResponse || t === PacketType.HandshakeFinal) {
    return bytes.length >= HANDSHAKE_HEADER_LENGTH ? readU32(bytes, 7) : -1;
  }
  return -1;
}

/** Writes `p` at `offset` of `buf`; returns the offset after it. RangeError if it does not fit. */
export function encodePacket(p: Packet, buf: Uint8Array, offset: number): number {
  checkPacket(p);
  const size = packetSize(p);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.length) {
    throw new RangeError(`packet of ${size} bytes does not fit at offset ${offset} of ${buf.length}`);
  }
  let o = offset;
  switch (p.type) {
    case 'handshake_init':
    case 'handshake_response':
    case 'handshake_final':
      buf[o] = HANDSHAKE_TYPES[p.type];
      buf[o + 1] = p.version;
      buf[o + 2] = p.pattern;
      writeU32(buf, o + 3, p.senderIndex);
      writeU32(buf, o + 7, p.receiverIndex);
      o += HANDSHAKE_HEADER_LENGTH;
      buf.set(p.noise, o);
      o += p.noise.length;
      buf.set(p.mac1, o);
      buf.set(p.mac2, o + MAC_LENGTH);
      return o + 2 * MAC_LENGTH;
    case 'cookie_reply':
      buf[o] = PacketType.CookieReply;
      writeU32(buf, o + 1, p.receiverIndex);
      buf.set(p.nonce, o + 5);
      buf.set(p.sealedCookie, o + 5 + COOKIE_NONCE_LENGTH);
      return o + COOKIE_REPLY_LENGTH;
    case 'data':
      o = writeDataHeader(buf, o, p.keyPhase, p.receiverIndex, p.packetNumber);
      buf.set(p.sealed, o);
      return o + p.sealed.length;
  }
}

/** Encodes `p` into a new buffer of the exact size. */
export function encodePacketBytes(p: Packet): Uint8Array {
  const buf = new Uint8Array(packetSize(p));
  encodePacket(p, buf, 0);
  return buf;
}

/**
 * Decodes one datagram as an srmudp packet. Byte fields are subarrays of `bytes`. Throws
 * WireDecodeError: `UNKNOWN_TYPE` (not an srmudp packet type), `TRUNCATED`, `TRAILING_BYTES`
 * (cookie reply longer than 61 bytes), `UNSUPPORTED_VERSION` (handshake version other than
 * {@link WIRE_VERSION}), `BAD_VALUE` (unknown pattern, non-zero receiver in an init, packet
 * number above 2^53-1).
 */
export function decodePacket(bytes: Uint8Array): Packet {
  const t = bytes.length > 0 ? bytes[0]! : -1;
  switch (t) {
    case PacketType.HandshakeInit:
    case PacketType.HandshakeResponse:
    case PacketType.HandshakeFinal:
      return decodeHandshake(bytes, t);
    case PacketType.CookieReply: {
      if (bytes.length < COOKIE_REPLY_LENGTH) {
        throw new WireDecodeError(
          'TRUNCATED',
          `cookie reply of ${bytes.length} bytes, expected ${COOKIE_REPLY_LENGTH}`,
        );
      }
      if (bytes.length > COOKIE_REPLY_LENGTH) {
        throw new WireDecodeError(
          'TRAILING_BYTES',
          `cookie reply of ${bytes.length} bytes, expected ${COOKIE_REPLY_LENGTH}`,
        );
      }
      const r = new Reader(bytes, 1);
      return {
        type: 'cookie_reply',
        receiverIndex: r.u32(),
        nonce: r.take(COOKIE_NONCE_LENGTH),
        sealedCookie: r.take(SEALED_COOKIE_LENGTH),
      };
    }
    default:
      if ((t & 0xfe) === PacketType.Data) return readDataHeader(bytes);
      throw new WireDecodeError(
        'UNKNOWN_TYPE',
        `unknown packet type ${t < 0 ? '(empty)' : `0x${t.toString(16)}`}`,
      );
  }
}

function decodeHandshake(bytes: Uint8Array, t: number): HandshakePacket {
  if (bytes.length < HANDSHAKE_HEADER_LENGTH + HANDSHAKE_TRAILER_LENGTH) {
    throw new WireDecodeError('TRUNCATED', `handshake packet of ${bytes.length} bytes is too short`);
  }
  const version = bytes[1]!;
  // The layout past the version byte belongs to that version; we only speak ours.
  if (version !== WIRE_VERSION) {
    throw new WireDecodeError(
      'UNSUPPORTED_VERSION',
      `handshake version ${version}, we speak ${WIRE_VERSION}`,
    );
  }
  const pattern = bytes[2]!;
  if (pattern !== HandshakePattern.IK && pattern !== HandshakePattern.XX) {
    throw new WireDecodeError('BAD_VALUE', `unknown handshake pattern ${pattern}`);
  }
  if (t === PacketType.HandshakeFinal && pattern !== HandshakePattern.XX) {
    throw new WireDecodeError('BAD_VALUE', 'handshake_final outside Noise XX');
  }
  const receiverIndex = readU32(bytes, 7);
  if (t === PacketType.HandshakeInit && receiverIndex !== 0) {
    throw new WireDecodeError('BAD_VALUE', 'handshake_init with a non-zero receiver index');
  }
  const mac1 = bytes.length - 2 * MAC_LENGTH;
  return {
    type:
      t === PacketType.HandshakeInit
        ? 'handshake_init'
        : t === PacketType.HandshakeResponse
          ? 'handshake_response'
          : 'handshake_final',
    version,
    pattern,
    senderIndex: readU32(bytes, 3),
    receiverIndex,
    noise: bytes.subarray(HANDSHAKE_HEADER_LENGTH, mac1),
    mac1: bytes.subarray(mac1, mac1 + MAC_LENGTH),
    mac2: bytes.subarray(mac1 + MAC_LENGTH),
  };
}
