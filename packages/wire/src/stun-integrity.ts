/**
 * MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message up to the attribute, with the
 * header's length field counting up to the end of MESSAGE-INTEGRITY (not a later FINGERPRINT).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { STUN_INTEGRITY_LENGTH } from './stun-types.js';
import { utf8Bytes } from './utf8.js';

/**
 * Short-term credential key (RFC 8489 §9.1.1): the password's UTF-8 bytes. OpaqueString
 * (SASLprep) preparation is not applied: srmudp generates ASCII passwords itself.
 */
export function stunShortTermKey(password: string): Uint8Array {
  return utf8Bytes(password);
}

/** HMAC of `msg[start, miStart)` with the length field of the header at `start` set to cover the MI attribute. */
export function stunIntegrityOver(
  key: Uint8Array,
  msg: Uint8Array,
  start: number,
  miStart: number,
): Uint8Array {
  const len = miStart + 4 + STUN_INTEGRITY_LENGTH - start - 20;
  const h = hmac.create(sha1, key);
  h.update(msg.subarray(start, start + 2));
  h.update(Uint8Array.of(len >> 8, len & 0xff));
  h.update(msg.subarray(start + 4, miStart));
  return h.digest();
}
