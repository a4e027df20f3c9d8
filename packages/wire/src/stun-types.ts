/**
 * STUN (RFC 8489) message model. Attributes we understand are named fields; anything else is
 * kept raw in `unknown` so a server can answer 420 (Unknown Attribute) for comprehension-required
 * types (0x0000-0x7fff, RFC 8489 §15) and a relay can pass optional ones on.
 */
import type { IpAddress } from './address.js';

export const StunClass = {
  Request: 'request',
  Indication: 'indication',
  Success: 'success',
  Error: 'error',
} as const;
export type StunClassName = (typeof StunClass)[keyof typeof StunClass];

export const StunMethod = { Binding: 0x001 } as const;

/** Attribute type numbers (RFC 8489 §18.3, RFC 5780 §7, RFC 8445 §16.1). */
export const StunAttr = {
  MappedAddress: 0x0001,
  ChangeRequest: 0x0003,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  XorMappedAddress: 0x0020,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  Software: 0x8022,
  Fingerprint: 0x8028,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
  ResponseOrigin: 0x802b,
  OtherAddress: 0x802c,
} as const;

/** RFC 8489 §14.7: FINGERPRINT = CRC-32 of the message XOR this. */
export const STUN_FINGERPRINT_XOR = 0x5354554e;
export const STUN_TRANSACTION_ID_LENGTH = 12;
/** HMAC-SHA1 output length (RFC 8489 §14.5). */
export const STUN_INTEGRITY_LENGTH = 20;

export interface StunRawAttribute {
  type: number;
  value: Uint8Array;
}

export interface StunErrorCode {
  /** 300-699 (RFC 8489 §14.8: class 3-6, number 0-99). */
  code: number;
  reason: string;
}

export interface StunChangeRequest {
  changeIp: boolean;
  changePort: boolean;
}

/** A STUN message. Optional fields absent = attribute absent. */
export interface StunMessage {
  class: StunClassName;
  /** 12-bit method; 0x001 = Binding. */
  method: number;
  /** 12 bytes. */
  transactionId: Uint8Array;
  software?: string;
  /** ICE PRIORITY (RFC 8445 §7.1.1). */
  priority?: number;
  /** ICE-CONTROLLED tie breaker, 8 bytes. */
  iceControlled?: Uint8Array;
  /** ICE-CONTROLLING tie breaker, 8 bytes. */
  iceControlling?: Uint8Array;
  useCandidate?: boolean;
  username?: string;
  errorCode?: StunErrorCode;
  /** UNKNOWN-ATTRIBUTES (in a 420 error response). */
  unknownAttributes?: number[];
  xorMappedAddress?: IpAddress;
  mappedAddress?: IpAddress;
  responseOrigin?: IpAddress;
  otherAddress?: IpAddress;
  changeRequest?: StunChangeRequest;
  /** Attributes this codec does not interpret, in message order (both comprehension ranges). */
  unknown?: StunRawAttribute[];
  /**
   * Set by the decoder only (ignored by the encoder): 'verified' when MESSAGE-INTEGRITY was
   * checked with the key given, 'unchecked' when present but no key was given.
   */
  integrity?: 'verified' | 'unchecked';
  /** Set by the decoder only: a valid FINGERPRINT was present. */
  fingerprint?: boolean;
}

export interface StunEncodeOptions {
  /** Adds MESSAGE-INTEGRITY (HMAC-SHA1) with this key (see {@link stunShortTermKey}). */
  integrityKey?: Uint8Array;
  /** Adds FINGERPRINT as the last attribute. */
  fingerprint?: boolean;
  /** Value of the padding bytes after attribute values (RFC 8489 §14: any; default 0). */
  paddingByte?: number;
}

export interface StunDecodeOptions {
  /** Verify MESSAGE-INTEGRITY with this key: `BAD_INTEGRITY` when it does not match. */
  integrityKey?: Uint8Array;
}
