/** STUN encoder (RFC 8489 §5, §14): writes into a caller buffer; `encodeStun` allocates one. */

import type { IpAddress } from './address.js';
import { writeU32 } from './bytes.js';
import { crc32Update } from './crc32.js';
import { STUN_HEADER_LENGTH, STUN_MAGIC_COOKIE } from './demux.js';
import { parseIp } from './ip.js';
import { stunIntegrityOver } from './stun-integrity.js';
import {
  STUN_FINGERPRINT_XOR,
  STUN_INTEGRITY_LENGTH,
  STUN_TRANSACTION_ID_LENGTH,
  StunAttr,
  type StunEncodeOptions,
  type StunMessage,
} from './stun-types.js';
import { utf8Length, writeUtf8 } from './utf8.js';

const CLASS_BITS = { request: 0b00, indication: 0b01, success: 0b10, error: 0b11 } as const;
const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(StunAttr));

/** RFC 8489 §5: the 2 class bits are interleaved into the 12 method bits (M11-M7 C1 M6-M4 C0 M3-M0). */
export function stunMessageType(cls: StunMessage['class'], method: number): number {
  const c = CLASS_BITS[cls];
  if (c === undefined) throw new TypeError(`"class" expected request|indication|success|error, got ${cls}`);
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) {
    throw new RangeError(`"method" expected integer in [0, 0xfff], got ${method}`);
  }
  return ((method & 0xf80) << 2) | ((method & 0x70) << 1) | (method & 0xf) | ((c & 2) << 7) | ((c & 1) << 4);
}

const pad4 = (n: number) => (n + 3) & ~3;

function addressBytes(name: string, a: IpAddress): Uint8Array {
  const ip = parseIp(a.host);
  if (ip === undefined || (a.family === 4 ? 4 : a.family === 6 ? 16 : -1) !== ip.length) {
    throw new TypeError(`"${name}" expected an IPv${a.family} address, got ${JSON.stringify(a.host)}`);
  }
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffff) {
    throw new RangeError(`"${name}.port" expected integer in [0, 65535], got ${a.port}`);
  }
  return ip;
}

function checkLen(name: string, v: unknown, len: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== len) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${len}`);
  }
}

/** MESSAGE-INTEGRITY's HMAC-SHA1 (stun-integrity.ts), or null where it is not supported. */
type Integrity = typeof stunIntegrityOver | null;

/** Exact encoded length of `msg` with `opts`. Throws TypeError/RangeError on invalid fields. */
export function stunSize(msg: StunMessage, opts: StunEncodeOptions = {}): number {
  return layout(msg, opts, undefined, 0, stunIntegrityOver);
}

/** Encodes `msg` into a new buffer. */
export function encodeStun(msg: StunMessage, opts: StunEncodeOptions = {}): Uint8Array {
  return encodeWith(msg, opts, stunIntegrityOver);
}

/**
 * @internal `encodeStun` without MESSAGE-INTEGRITY (TypeError for `integrityKey`), so that code
 * which never signs (@srmudp/punch's Binding messages) does not bring HMAC-SHA1 into a bundle.
 */
export function encodeStunNoIntegrity(
  msg: StunMessage,
  opts: Omit<StunEncodeOptions, 'integrityKey'> = {},
): Uint8Array {
  return encodeWith(msg, opts, null);
}

function encodeWith(msg: StunMessage, opts: StunEncodeOptions, integrity: Integrity): Uint8Array {
  const buf = new Uint8Array(layout(msg, opts, undefined, 0, integrity));
  layout(msg, opts, buf, 0, integrity);
  return buf;
}

/** Writes `msg` at `offset` of `buf`; returns the offset after it. RangeError if it does not fit. */
export function encodeStunInto(
  msg: StunMessage,
  buf: Uint8Array,
  offset: number,
  opts: StunEncodeOptions = {},
): number {
  const size = stunSize(msg, opts);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.length) {
    throw new RangeError(`STUN message of ${size} bytes does not fit at offset ${offset} of ${buf.length}`);
  }
  return layout(msg, opts, buf, offset, stunIntegrityOver);
}

/**
 * One routine sizes (buf undefined) and writes, so size and bytes cannot disagree. Attribute
 * order is fixed (it reproduces the RFC 5769 samples); MESSAGE-INTEGRITY then FINGERPRINT last.
 */
function layout(
  msg: StunMessage,
  opts: StunEncodeOptions,
  buf: Uint8Array | undefined,
  start: number,
  integrity: Integrity,
): number {
  const type = stunMessageType(msg.class, msg.method);
  checkLen('transactionId', msg.transactionId, STUN_TRANSACTION_ID_LENGTH);
  const padByte = opts.paddingByte ?? 0;
  if (!Number.isInteger(padByte) || padByte < 0 || padByte > 255) {
    throw new RangeError(`"paddingByte" expected integer in [0, 255], got ${padByte}`);
  }
  let p = start + STUN_HEADER_LENGTH;
  const attr = (t: number, len: number): number => {
    if (buf !== undefined) {
      buf[p] = t >> 8;
      buf[p + 1] = t & 0xff;
      buf[p + 2] = len >> 8;
      buf[p + 3] = len & 0xff;
      buf.fill(padByte, p + 4 + len, p + 4 + pad4(len));
    }
    const valueAt = p + 4;
    p = valueAt + pad4(len);
    return valueAt;
  };
  const text = (t: number, name: string, s: string | undefined, maxBytes: number) => {
    if (s === undefined) return;
    if (typeof s !== 'string') throw new TypeError(`"${name}" expected string`);
    const n = utf8Length(s);
    if (n > maxBytes) throw new RangeError(`"${name}" expected at most ${maxBytes} UTF-8 bytes, got ${n}`);
    const at = attr(t, n);
    if (buf !== undefined) writeUtf8(buf, at, s);
  };
  const address = (t: number, name: string, a: IpAddress | undefined, xor: boolean) => {
    if (a === undefined) return;
    const ip = addressBytes(name, a);
    const at = attr(t, 4 + ip.length);
    if (buf === undefined) return;
    buf[at] = 0;
    buf[at + 1] = ip.length === 4 ? 0x01 : 0x02;
    const port = xor ? a.port ^ (STUN_MAGIC_COOKIE >>> 16) : a.port;
    buf[at + 2] = port >> 8;
    buf[at + 3] = port & 0xff;
    for (let i = 0; i < ip.length; i++) {
      // RFC 8489 §14.2: XOR with the magic cookie, then (IPv6) the transaction id.
      const mask = !xor ? 0 : i < 4 ? (STUN_MAGIC_COOKIE >>> (24 - 8 * i)) & 0xff : msg.transactionId[i - 4]!;
      buf[at + 4 + i] = ip[i]! ^ mask;
    }
  };
  const fixed = (t: number, name: string, v: Uint8Array | undefined, len: number) => {
    if (v === undefined) return;
    checkLen(name, v, len);
    const at = attr(t, len);
    buf?.set(v, at);
  };

  // RFC 8489 §14.9: fewer than 128 characters (up to 4 bytes each) for SOFTWARE and reason.
  text(StunAttr.Software, 'software', msg.software, 763);
  if (msg.priority !== undefined) {
    if (!Number.isInteger(msg.priority) || msg.priority < 0 || msg.priority > 0xffffffff) {
      throw new RangeError(`"priority" expected integer in [0, 2^32-1], got ${msg.priority}`);
    }
    const at = attr(StunAttr.Priority, 4);
    if (buf !== undefined) writeU32(buf, at, msg.priority);
  }
  fixed(StunAttr.IceControlled, 'iceControlled', msg.iceControlled, 8);
  fixed(StunAttr.IceControlling, 'iceControlling', msg.iceControlling, 8);
  if (msg.useCandidate === true) attr(StunAttr.UseCandidate, 0);
  // RFC 8489 §14.3: USERNAME is less than 513 bytes.
  text(StunAttr.Username, 'username', msg.username, 512);
  if (msg.errorCode !== undefined) {
    const { code, reason } = msg.errorCode;
    if (!Number.isInteger(code) || code < 300 || code > 699) {
      throw new RangeError(`"errorCode.code" expected integer in [300, 699], got ${code}`);
    }
    if (typeof reason !== 'string') throw new TypeError('"errorCode.reason" expected string');
    const n = utf8Length(reason);
    if (n > 763) throw new RangeError(`"errorCode.reason" expected at most 763 UTF-8 bytes, got ${n}`);
    const at = attr(StunAttr.ErrorCode, 4 + n);
    if (buf !== undefined) {
      buf[at] = 0;
      buf[at + 1] = 0;
      buf[at + 2] = Math.floor(code / 100);
      buf[at + 3] = code % 100;
      writeUtf8(buf, at + 4, reason);
    }
  }
  if (msg.unknownAttributes !== undefined) {
    const list = msg.unknownAttributes;
    const at = attr(StunAttr.UnknownAttributes, 2 * list.length);
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      if (!Number.isInteger(t) || t < 0 || t > 0xffff) {
        throw new RangeError(`"unknownAttributes[${i}]" expected integer in [0, 0xffff], got ${t}`);
      }
      if (buf !== undefined) {
        buf[at + 2 * i] = t >> 8;
        buf[at + 2 * i + 1] = t & 0xff;
      }
    }
  }
  address(StunAttr.XorMappedAddress, 'xorMappedAddress', msg.xorMappedAddress, true);
  address(StunAttr.MappedAddress, 'mappedAddress', msg.mappedAddress, false);
  address(StunAttr.ResponseOrigin, 'responseOrigin', msg.responseOrigin, false);
  address(StunAttr.OtherAddress, 'otherAddress', msg.otherAddress, false);
  if (msg.changeRequest !== undefined) {
    const at = attr(StunAttr.ChangeRequest, 4);
    if (buf !== undefined) {
      buf.fill(0, at, at + 3);
      buf[at + 3] = (msg.changeRequest.changeIp ? 0x04 : 0) | (msg.changeRequest.changePort ? 0x02 : 0);
    }
  }
  if (msg.unknown !== undefined) {
    for (let i = 0; i < msg.unknown.length; i++) {
      const u = msg.unknown[i]!;
      if (!Number.isInteger(u.type) || u.type < 0 || u.type > 0xffff || KNOWN_TYPES.has(u.type)) {
        throw new RangeError(
          `"unknown[${i}].type" expected an attribute type this codec does not model, got ${u.type}`,
        );
      }
      if (!(u.value instanceof Uint8Array)) throw new TypeError(`"unknown[${i}].value" expected Uint8Array`);
      const at = attr(u.type, u.value.length);
      buf?.set(u.value, at);
    }
  }
  if (opts.integrityKey !== undefined) {
    if (!(opts.integrityKey instanceof Uint8Array)) throw new TypeError('"integrityKey" expected Uint8Array');
    if (integrity === null)
      throw new TypeError('"integrityKey" not supported here (MESSAGE-INTEGRITY: encodeStun)');
    const miStart = p;
    const at = attr(StunAttr.MessageIntegrity, STUN_INTEGRITY_LENGTH);
    if (buf !== undefined) {
      writeHeader(buf, start, type, p - start - STUN_HEADER_LENGTH, msg.transactionId);
      buf.set(integrity(opts.integrityKey, buf, start, miStart), at);
    }
  }
  if (opts.fingerprint === true) {
    const fpStart = p;
    const at = attr(StunAttr.Fingerprint, 4);
    if (buf !== undefined) {
      writeHeader(buf, start, type, p - start - STUN_HEADER_LENGTH, msg.transactionId);
      writeU32(buf, at, (crc32Update(0, buf, start, fpStart) ^ STUN_FINGERPRINT_XOR) >>> 0);
    }
  }
  const bodyLength = p - start - STUN_HEADER_LENGTH;
  if (bodyLength > 0xffff) throw new RangeError(`STUN message body of ${bodyLength} bytes exceeds 65535`);
  if (buf !== undefined) writeHeader(buf, start, type, bodyLength, msg.transactionId);
  return p;
}

function writeHeader(buf: Uint8Array, at: number, type: number, len: number, tid: Uint8Array): void {
  buf[at] = type >> 8;
  buf[at + 1] = type & 0xff;
  buf[at + 2] = len >> 8;
  buf[at + 3] = len & 0xff;
  writeU32(buf, at + 4, STUN_MAGIC_COOKIE);
  buf.set(tid, at + 8);
}
