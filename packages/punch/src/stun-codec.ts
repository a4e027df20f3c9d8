/**
 * The thin layer over `@srmudp/wire`'s STUN codec (RFC 8489) that punching uses: a total decoder
 * (null instead of an exception: the state machines never throw on network input), the one
 * Binding-request encoder of this package, and the transaction-id map key.
 */
import {
  classifyDatagram,
  decodeStunNoIntegrity,
  encodeStunNoIntegrity,
  type StunChangeRequest,
  type StunMessage,
  StunMethod,
  toHex,
} from '@srmudp/wire';

/** Decodes a STUN Binding message; null for anything else (not STUN, malformed, other method). */
export function tryDecodeBinding(bytes: Uint8Array): StunMessage | null {
  if (classifyDatagram(bytes) !== 'stun') return null;
  try {
    const msg = decodeStunNoIntegrity(bytes);
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
  if (id.length >= 12) return toHex(id.subarray(0, 12));
  const padded = new Uint8Array(12);
  padded.set(id);
  return toHex(padded);
}

/**
 * A fingerprinted Binding request (RFC 8489 §6.1; CHANGE-REQUEST per RFC 5780 §7.2 when given,
 * SOFTWARE when non-empty). `transactionId` must be 12 fresh random bytes.
 */
export function encodeBindingRequest(
  transactionId: Uint8Array,
  options: { readonly changeRequest?: Partial<StunChangeRequest>; readonly software?: string } = {},
): Uint8Array {
  const cr = options.changeRequest;
  return encodeStunNoIntegrity(
    {
      class: 'request',
      method: StunMethod.Binding,
      transactionId,
      ...(cr !== undefined
        ? { changeRequest: { changeIp: cr.changeIp === true, changePort: cr.changePort === true } }
        : {}),
      ...(options.software !== undefined && options.software !== '' ? { software: options.software } : {}),
    },
    { fingerprint: true },
  );
}
