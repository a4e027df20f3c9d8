/**
 * The STUN Binding responder of an endpoint's socket (every srmudp node is a reflector for its
 * peers, DESIGN.md §5): a Binding request gets its source address back; anything it cannot
 * honour gets a 420 error (RFC 8489 §14.11: unknown comprehension-required attributes; RFC 5780
 * §7.2 CHANGE-REQUEST, which one socket cannot satisfy). Other STUN messages are not ours.
 */
import { buildBindingError, buildBindingResponse, parseBindingRequest } from '@srmudp/punch';
import type { Address } from '@srmudp/wire';

/** RFC 5780 §7.2 CHANGE-REQUEST: a single-socket responder cannot honour it (answers 420). */
const CHANGE_REQUEST = 0x0003;

/**
 * The answer to a STUN message from `from`: the reply bytes, null when it is a Binding request
 * that cannot be answered (unencodable), or 'not_request' when it is not a Binding request at
 * all (a reply to the driver's own STUN client, say).
 */
export function answerStun(data: Uint8Array, from: Address): Uint8Array | null | 'not_request' {
  const req = parseBindingRequest(data);
  if (req === null) return 'not_request';
  try {
    const cr = req.changeRequest;
    if (req.unknownAttributes.length > 0) {
      return buildBindingError(req.transactionId, 420, 'Unknown Attribute', req.unknownAttributes);
    }
    if (cr !== null && (cr.changeIp || cr.changePort)) {
      return buildBindingError(req.transactionId, 420, 'Unknown Attribute', [CHANGE_REQUEST]);
    }
    return buildBindingResponse({ transactionId: req.transactionId, mapped: from });
  } catch {
    return null;
  }
}
