/**
 * The subset of STUN (RFC 8489) and its NAT behaviour discovery extension (RFC 5780) that
 * punching needs: Binding requests and responses with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS,
 * OTHER-ADDRESS, RESPONSE-ORIGIN, CHANGE-REQUEST, SOFTWARE, ERROR-CODE, UNKNOWN-ATTRIBUTES and
 * FINGERPRINT. Decoding is total: any byte string yields a message or `null`, never an exception.
 *
 * Why not `@srmudp/wire`'s STUN codec: it was being written at the same time as this package; this
 * module is the one place that would change to use it (see README, "Departures").
 */
import { type Endpoint, formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './endpoint.js';

export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_LENGTH = 20;
const FINGERPRINT_XOR = 0x5354554e;

/** Message types (RFC 8489 §5: method Binding = 0x001 with class bits). */
export const StunType = {
  BindingRequest: 0x0001,
  BindingIndication: 0x0011,
  BindingSuccess: 0x0101,
  BindingError: 0x0111,
} as const;

/** Attribute types used here. 0x0000-0x7fff are comprehension-required (RFC 8489 §14). */
export const StunAttr = {
  MappedAddress: 0x0001,
  ChangeRequest: 0x0003, // RFC 5780 §7.2
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  MessageIntegritySha256: 0x001c,
  UserHash: 0x001e,
  XorMappedAddress: 0x0020,
  PasswordAlgorithms: 0x8002,
  AlternateDomain: 0x8003,
  Software: 0x8022,
  AlternateServer: 0x8023,
  Fingerprint: 0x8028,
  ResponseOrigin: 0x802b, // RFC 5780 §7.3
  OtherAddress: 0x802c, // RFC 5780 §7.4
} as const;

/** Comprehension-required attributes this implementation understands (or may safely ignore as an
 * unauthenticated Binding server, RFC 8489 §9: credentials are only checked by servers that use them). */
const UNDERSTOOD_REQUIRED: ReadonlySet<number> = new Set([
  StunAttr.MappedAddress,
  StunAttr.ChangeRequest,
  StunAttr.Username,
  StunAttr.MessageIntegrity,
  StunAttr.ErrorCode,
  StunAttr.UnknownAttributes,
  StunAttr.Realm,
  StunAttr.Nonce,
  StunAttr.MessageIntegritySha256,
  StunAttr.UserHash,
  StunAttr.XorMappedAddress,
]);

export interface StunAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface StunMessage {
  readonly type: number;
  /** 12 bytes */
  readonly transactionId: Uint8Array;
  readonly attributes: readonly StunAttribute[];
  /** true when a FINGERPRINT attribute was present and valid */
  readonly fingerprint: boolean;
}

export interface ChangeRequest {
  readonly changeIp?: boolean;
  readonly changePort?: boolean;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (ISO HDLC, as RFC 8489 §14.7 requires for FINGERPRINT)

let crcTable: Uint32Array | null = null;
function crc32(data: Uint8Array, end: number): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < end; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Cheap check (RFC 8489 §6.3 / RFC 7983): first two bits 00, magic cookie, length multiple of 4. */
export function looksLikeStun(bytes: Uint8Array): boolean {
  if (bytes.length < STUN_HEADER_LENGTH) return false;
  if ((bytes[0]! & 0xc0) !== 0) return false;
  if (((bytes[2]! << 8) | bytes[3]!) + STUN_HEADER_LENGTH !== bytes.length) return false;
  if ((bytes[3]! & 3) !== 0) return false;
  return (
    bytes[4] === 0x21 && bytes[5] === 0x12 && bytes[6] === 0xa4 && bytes[7] === 0x42 // magic cookie
  );
}

/** Decodes a STUN message; `null` for anything that is not a well-formed one (total, never throws). */
export function decodeStun(bytes: Uint8Array): StunMessage | null {
  if (!looksLikeStun(bytes)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0);
  const transactionId = bytes.slice(8, 20);
  const attributes: StunAttribute[] = [];
  let fingerprint = false;
  let off = STUN_HEADER_LENGTH;
  while (off < bytes.length) {
    if (off + 4 > bytes.length) return null;
    const at = view.getUint16(off);
    const len = view.getUint16(off + 2);
    const padded = (len + 3) & ~3;
    if (off + 4 + padded > bytes.length) return null;
    if (fingerprint) return null; // FINGERPRINT must be last (RFC 8489 §14.7)
    if (at === StunAttr.Fingerprint) {
      if (len !== 4) return null;
      const expected = (crc32(bytes, off) ^ FINGERPRINT_XOR) >>> 0;
      if (view.getUint32(off + 4) !== expected) return null;
      fingerprint = true;
    } else {
      attributes.push({ type: at, value: bytes.subarray(off + 4, off + 4 + len) });
    }
    off += 4 + padded;
  }
  return { type, transactionId, attributes, fingerprint };
}

export function getAttribute(msg: StunMessage, type: number): Uint8Array | undefined {
  for (const a of msg.attributes) if (a.type === type) return a.value;
  return undefined;
}

/** Decodes a (XOR-)MAPPED-ADDRESS-style value (RFC 8489 §14.1/§14.2); null when malformed. */
export function decodeAddress(value: Uint8Array, xor: boolean, transactionId: Uint8Array): Endpoint | null {
  if (value.length < 4) return null;
  const family = value[1];
  let port = (value[2]! << 8) | value[3]!;
  if (xor) port ^= STUN_MAGIC_COOKIE >>> 16;
  if (family === 0x01) {
    if (value.length !== 8) return null;
    const a = value.slice(4, 8);
    if (xor) for (let i = 0; i < 4; i++) a[i]! ^= COOKIE_BYTES[i]!;
    return { address: formatIPv4(a), port };
  }
  if (family === 0x02) {
    if (value.length !== 20) return null;
    const a = value.slice(4, 20);
    if (xor) {
      for (let i = 0; i < 4; i++) a[i]! ^= COOKIE_BYTES[i]!;
      for (let i = 0; i < 12; i++) a[4 + i]! ^= transactionId[i]!;
    }
    return { address: formatIPv6(a), port };
  }
  return null;
}

const COOKIE_BYTES = new Uint8Array([0x21, 0x12, 0xa4, 0x42]);

/** Comprehension-required attribute types in `msg` this implementation does not understand. */
export function unknownRequiredAttributes(msg: StunMessage): number[] {
  const out: number[] = [];
  for (const a of msg.attributes) {
    if (a.type < 0x8000 && !UNDERSTOOD_REQUIRED.has(a.type) && !out.includes(a.type)) out.push(a.type);
  }
  return out;
}

export function decodeChangeRequest(value: Uint8Array): ChangeRequest | null {
  if (value.length !== 4) return null;
  const flags = value[3]!;
  return { changeIp: (flags & 0x04) !== 0, changePort: (flags & 0x02) !== 0 };
}

/** ERROR-CODE (RFC 8489 §14.8): class*100 + number, reason phrase. */
export function decodeErrorCode(value: Uint8Array): { code: number; reason: string } | null {
  if (value.length < 4) return null;
  const cls = value[2]! & 0x07;
  const num = value[3]!;
  if (cls < 3 || cls > 6 || num > 99) return null;
  let reason = '';
  try {
    reason = new TextDecoder('utf-8', { fatal: false }).decode(value.subarray(4));
  } catch {
    reason = '';
  }
  return { code: cls * 100 + num, reason };
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function encodeAddress(e: Endpoint, xor: boolean, transactionId: Uint8Array): Uint8Array | null {
  const v4 = parseIPv4(e.address);
  const ip = v4 ?? parseIPv6(e.address);
  if (ip === null || !Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) return null;
  const out = new Uint8Array(4 + ip.length);
  out[1] = v4 ? 0x01 : 0x02;
  const port = xor ? e.port ^ (STUN_MAGIC_COOKIE >>> 16) : e.port;
  out[2] = port >> 8;
  out[3] = port & 0xff;
  out.set(ip, 4);
  if (xor) {
    for (let i = 0; i < 4; i++) out[4 + i]! ^= COOKIE_BYTES[i]!;
    if (!v4) for (let i = 0; i < 12; i++) out[8 + i]! ^= transactionId[i]!;
  }
  return out;
}

export function encodeChangeRequest(cr: ChangeRequest): Uint8Array {
  return new Uint8Array([0, 0, 0, (cr.changeIp ? 0x04 : 0) | (cr.changePort ? 0x02 : 0)]);
}

export function encodeErrorCode(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(4 + text.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  out.set(text, 4);
  return out;
}

export function encodeUnknownAttributes(types: readonly number[]): Uint8Array {
  const out = new Uint8Array(types.length * 2);
  types.forEach((t, i) => {
    out[2 * i] = t >> 8;
    out[2 * i + 1] = t & 0xff;
  });
  return out;
}

/** Encodes a STUN message; appends FINGERPRINT (RFC 8489 §14.7) when `fingerprint` is true. */
export function encodeStun(
  type: number,
  transactionId: Uint8Array,
  attributes: readonly StunAttribute[],
  fingerprint: boolean,
): Uint8Array {
  let len = 0;
  for (const a of attributes) len += 4 + ((a.value.length + 3) & ~3);
  if (fingerprint) len += 8;
  const out = new Uint8Array(STUN_HEADER_LENGTH + len);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, len);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId.subarray(0, 12), 8);
  let off = STUN_HEADER_LENGTH;
  for (const a of attributes) {
    view.setUint16(off, a.type);
    view.setUint16(off + 2, a.value.length);
    out.set(a.value, off + 4);
    off += 4 + ((a.value.length + 3) & ~3);
  }
  if (fingerprint) {
    view.setUint16(off, StunAttr.Fingerprint);
    view.setUint16(off + 2, 4);
    view.setUint32(off + 4, (crc32(out, off) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

/** Transaction id as a map key (24 hex chars). */
export function transactionKey(id: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += (id[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}
