/** STUN decoder (RFC 8489). Total: a {@link StunMessage} or a WireDecodeError on any input. */

import type { IpAddress } from './address.js';
import { equalBytes, readU32 } from './bytes.js';
import { crc32Update } from './crc32.js';
import { STUN_HEADER_LENGTH, STUN_MAGIC_COOKIE } from './demux.js';
import { WireDecodeError } from './errors.js';
import { formatIp } from './ip.js';
import { stunIntegrityOver } from './stun-integrity.js';
import {
  STUN_FINGERPRINT_XOR,
  STUN_INTEGRITY_LENGTH,
  StunAttr,
  type StunClassName,
  type StunDecodeOptions,
  type StunMessage,
  type StunRawAttribute,
} from './stun-types.js';
import { readUtf8 } from './utf8.js';

const CLASSES: readonly StunClassName[] = ['request', 'indication', 'success', 'error'];
const MODELED: ReadonlySet<number> = new Set(Object.values(StunAttr));

function bad(message: string): never {
  throw new WireDecodeError('BAD_VALUE', message);
}

function readAddress(v: Uint8Array, name: string, xorTid: Uint8Array | undefined): IpAddress {
  if (v.length < 4) bad(`${name} of ${v.length} bytes`);
  const family = v[1];
  const len = family === 0x01 ? 4 : family === 0x02 ? 16 : bad(`${name} with unknown family ${family}`);
  if (v.length !== 4 + len) bad(`${name} of ${v.length} bytes for family ${family}`);
  let port = (v[2]! << 8) | v[3]!;
  // a copy whatever the input type (Buffer#slice would be a view, and the XOR below mutates it)
  const ip = new Uint8Array(v.subarray(4, 4 + len));
  if (xorTid !== undefined) {
    // RFC 8489 §14.2: port XOR the cookie's high 16 bits, address XOR cookie || transaction id.
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < len; i++)
      ip[i]! ^= i < 4 ? (STUN_MAGIC_COOKIE >>> (24 - 8 * i)) & 0xff : xorTid[i - 4]!;
  }
  return { family: len === 4 ? 4 : 6, host: formatIp(ip), port };
}

function fixedLength(v: Uint8Array, len: number, name: string): Uint8Array {
  if (v.length !== len) bad(`${name} of ${v.length} bytes, expected ${len}`);
  return v;
}

/** True for attribute types a receiver must understand (RFC 8489 §15: 0x0000-0x7FFF). */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** The comprehension-required attribute types of `msg` this codec did not understand (answer 420 with them). */
export function unknownComprehensionRequired(msg: StunMessage): number[] {
  const out: number[] = [];
  for (const u of msg.unknown ?? [])
    if (isComprehensionRequired(u.type) && !out.includes(u.type)) out.push(u.type);
  return out;
}

/**
 * Decodes one STUN message filling the whole of `bytes`. WireDecodeError codes: `NOT_STUN`
 * (top bits, magic cookie or length not a multiple of 4), `TRUNCATED`, `TRAILING_BYTES`,
 * `BAD_VALUE` (malformed attribute, FINGERPRINT not last), `BAD_FINGERPRINT`, `BAD_INTEGRITY`
 * (only when `opts.integrityKey` is given). Only the first of repeated attributes is kept
 * (RFC 8489 §14); attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (§14.5).
 * Without a key a present MESSAGE-INTEGRITY is reported as `integrity: 'unchecked'`; check it
 * later with {@link verifyStunIntegrity} (a server looks the password up by USERNAME first).
 */
export function decodeStun(bytes: Uint8Array, opts: StunDecodeOptions = {}): StunMessage {
  return decodeWith(bytes, opts, stunIntegrityOver);
}

/**
 * @internal `decodeStun` without a key (a MESSAGE-INTEGRITY present is `'unchecked'`), so that
 * code which never verifies (@srmudp/punch's Binding messages) does not bring HMAC-SHA1 into a bundle.
 */
export function decodeStunNoIntegrity(bytes: Uint8Array): StunMessage {
  return decodeWith(bytes, {}, null);
}

function decodeWith(
  bytes: Uint8Array,
  opts: StunDecodeOptions,
  integrity: typeof stunIntegrityOver | null,
): StunMessage {
  if (bytes.length < STUN_HEADER_LENGTH) {
    throw new WireDecodeError(
      'TRUNCATED',
      `STUN message of ${bytes.length} bytes is shorter than the header`,
    );
  }
  const type = (bytes[0]! << 8) | bytes[1]!;
  if (type & 0xc000) throw new WireDecodeError('NOT_STUN', 'top two bits are not zero');
  if (readU32(bytes, 4) !== STUN_MAGIC_COOKIE) throw new WireDecodeError('NOT_STUN', 'no magic cookie');
  const bodyLength = (bytes[2]! << 8) | bytes[3]!;
  if (bodyLength & 3) throw new WireDecodeError('NOT_STUN', 'length is not a multiple of 4');
  if (STUN_HEADER_LENGTH + bodyLength > bytes.length) {
    throw new WireDecodeError(
      'TRUNCATED',
      `STUN length ${bodyLength} exceeds the ${bytes.length - 20} bytes present`,
    );
  }
  if (STUN_HEADER_LENGTH + bodyLength < bytes.length) {
    throw new WireDecodeError(
      'TRAILING_BYTES',
      `${bytes.length - 20 - bodyLength} bytes after the STUN message`,
    );
  }
  const method = ((type & 0x3e00) >> 2) | ((type & 0xe0) >> 1) | (type & 0xf);
  const cls = CLASSES[((type & 0x100) >> 7) | ((type & 0x10) >> 4)]!;
  const transactionId = bytes.subarray(8, 20);
  const msg: StunMessage = { class: cls, method, transactionId };
  const seen = new Set<number>();
  const unknown: StunRawAttribute[] = [];
  let miStart = -1;
  let p = STUN_HEADER_LENGTH;
  const end = bytes.length;
  while (p < end) {
    if (p + 4 > end) throw new WireDecodeError('TRUNCATED', `attribute header at ${p} exceeds the message`);
    const t = (bytes[p]! << 8) | bytes[p + 1]!;
    const len = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    const at = p + 4;
    if (at + len > end)
      throw new WireDecodeError('TRUNCATED', `attribute 0x${t.toString(16)} exceeds the message`);
    const v = bytes.subarray(at, at + len);
    const attrStart = p;
    // The message length is a multiple of 4, so padding of the last attribute is present too.
    p = at + ((len + 3) & ~3);
    if (t === StunAttr.Fingerprint) {
      fixedLength(v, 4, 'FINGERPRINT');
      if (p !== end) bad('FINGERPRINT is not the last attribute');
      const want = (crc32Update(0, bytes, 0, attrStart) ^ STUN_FINGERPRINT_XOR) >>> 0;
      if (readU32(v, 0) !== want) throw new WireDecodeError('BAD_FINGERPRINT', 'FINGERPRINT does not match');
      msg.fingerprint = true;
      break;
    }
    if (miStart >= 0) continue; // RFC 8489 §14.5: ignore what follows MESSAGE-INTEGRITY
    if (MODELED.has(t)) {
      if (seen.has(t)) continue; // only the first occurrence of a modeled attribute counts
      seen.add(t);
    }
    switch (t) {
      case StunAttr.MessageIntegrity:
        fixedLength(v, STUN_INTEGRITY_LENGTH, 'MESSAGE-INTEGRITY');
        miStart = attrStart;
        break;
      case StunAttr.Software:
        msg.software = readUtf8(v, 'SOFTWARE');
        break;
      case StunAttr.Username:
        msg.username = readUtf8(v, 'USERNAME');
        break;
      case StunAttr.Priority:
        msg.priority = readU32(fixedLength(v, 4, 'PRIORITY'), 0);
        break;
      case StunAttr.IceControlled:
        msg.iceControlled = fixedLength(v, 8, 'ICE-CONTROLLED');
        break;
      case StunAttr.IceControlling:
        msg.iceControlling = fixedLength(v, 8, 'ICE-CONTROLLING');
        break;
      case StunAttr.UseCandidate:
        fixedLength(v, 0, 'USE-CANDIDATE');
        msg.useCandidate = true;
        break;
      case StunAttr.ErrorCode: {
        if (v.length < 4) bad(`ERROR-CODE of ${v.length} bytes`);
        const cl = v[2]! & 7;
        const num = v[3]!;
        if (cl < 3 || cl > 6 || num > 99) bad(`ERROR-CODE class ${cl} number ${num}`);
        msg.errorCode = { code: cl * 100 + num, reason: readUtf8(v.subarray(4), 'ERROR-CODE reason') };
        break;
      }
      case StunAttr.UnknownAttributes: {
        if (v.length & 1) bad('UNKNOWN-ATTRIBUTES of odd length');
        const list: number[] = [];
        for (let i = 0; i < v.length; i += 2) list.push((v[i]! << 8) | v[i + 1]!);
        msg.unknownAttributes = list;
        break;
      }
      case StunAttr.XorMappedAddress:
        msg.xorMappedAddress = readAddress(v, 'XOR-MAPPED-ADDRESS', transactionId);
        break;
      case StunAttr.MappedAddress:
        msg.mappedAddress = readAddress(v, 'MAPPED-ADDRESS', undefined);
        break;
      case StunAttr.ResponseOrigin:
        msg.responseOrigin = readAddress(v, 'RESPONSE-ORIGIN', undefined);
        break;
      case StunAttr.OtherAddress:
        msg.otherAddress = readAddress(v, 'OTHER-ADDRESS', undefined);
        break;
      case StunAttr.ChangeRequest:
        fixedLength(v, 4, 'CHANGE-REQUEST');
        msg.changeRequest = { changeIp: (v[3]! & 0x04) !== 0, changePort: (v[3]! & 0x02) !== 0 };
        break;
      default:
        unknown.push({ type: t, value: v });
    }
  }
  if (unknown.length > 0) msg.unknown = unknown;
  if (miStart >= 0) {
    if (opts.integrityKey !== undefined && integrity !== null) {
      const mac = bytes.subarray(miStart + 4, miStart + 4 + STUN_INTEGRITY_LENGTH);
      if (!equalBytes(mac, integrity(opts.integrityKey, bytes, 0, miStart))) {
        throw new WireDecodeError('BAD_INTEGRITY', 'MESSAGE-INTEGRITY does not match');
      }
      msg.integrity = 'verified';
    } else msg.integrity = 'unchecked';
  }
  return msg;
}

/**
 * Checks the MESSAGE-INTEGRITY of an encoded message with `key`. False when absent or wrong;
 * throws WireDecodeError when `bytes` is not a well-formed STUN message.
 */
export function verifyStunIntegrity(bytes: Uint8Array, key: Uint8Array): boolean {
  try {
    return decodeStun(bytes, { integrityKey: key }).integrity === 'verified';
  } catch (e) {
    if (e instanceof WireDecodeError && e.code === 'BAD_INTEGRITY') return false;
    throw e;
  }
}
