/**
 * The thin layer over `@srmudp/wire`'s STUN codec (RFC 8489) that punching uses: a total decoder
 * (null instead of an exception: the state machines never throw on network input) and the
 * transaction-id map key.
 */
import { classifyDatagram, decodeStun, type StunMessage, StunMethod } from '@srmudp/wire';

/** Decodes a STUN Binding message; null for anything else (not STUN, malformed, other method). */
export function tryDecodeBinding(bytes: Uint8Array): StunMessage | null {
  if (classifyDatagram(bytes) !== 'stun') return null;
  try {
    const msg = decodeStun(bytes);
    return msg.method === StunMethod.Binding ? msg : null;
  } catch {
    return null;
  }
}

/** True when the datagram is a STUN message (RFC 8489 §6: top bits 00, magic cookie, length). */
export function isStun(bytes: Uint8Array): boolean {
  return classifyDatagram(bytes) === 'stun';
}

/** Transaction id as a map key (24 hex chars). */
export function transactionKey(id: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += (id[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}
