/**
 * STUN Binding responder (RFC 8489 §6.3): every srmudp node answers Binding requests on its one
 * socket, so a connected peer or gate can serve as a reflector. Pure function: bytes in, bytes out.
 */
import type { Endpoint } from './endpoint.js';
import {
  type ChangeRequest,
  decodeChangeRequest,
  decodeStun,
  encodeAddress,
  encodeErrorCode,
  encodeStun,
  encodeUnknownAttributes,
  getAttribute,
  StunAttr,
  type StunAttribute,
  StunType,
  unknownRequiredAttributes,
} from './stun-message.js';

export const DEFAULT_SOFTWARE = 'srmudp';

export interface StunResponderOptions {
  /** SOFTWARE attribute value (RFC 8489 §14.14); empty string omits it. Default 'srmudp'. */
  readonly software?: string;
  /**
   * Rate-limit / policy hook, asked before answering (a reflector must not become an amplifier).
   * Return false to drop the request silently.
   */
  readonly allow?: (from: Endpoint) => boolean;
  /** RFC 5780 OTHER-ADDRESS to advertise, when this responder can answer from another IP and port. */
  readonly otherAddress?: Endpoint;
  /**
   * Whether CHANGE-REQUEST can be honoured by the caller (a multi-address reflector reads
   * {@link parseBindingRequest}'s `changeRequest` and sends from the other address). Default false:
   * a request asking for a change is answered with 420 (RFC 5780 §6.1 / RFC 8489 §6.3.1), so the
   * client learns that filtering tests are impossible here instead of misreading silence.
   */
  readonly supportsChangeRequest?: boolean;
}

export interface BindingRequestInfo {
  readonly transactionId: Uint8Array;
  readonly changeRequest: ChangeRequest | null;
  /** comprehension-required attributes we do not understand (non-empty → answer 420) */
  readonly unknownAttributes: readonly number[];
  readonly fingerprint: boolean;
}

/** Parses a Binding request; null for anything else (responses, indications, garbage). Never throws. */
export function parseBindingRequest(bytes: Uint8Array): BindingRequestInfo | null {
  const msg = decodeStun(bytes);
  if (msg === null || msg.type !== StunType.BindingRequest) return null;
  const cr = getAttribute(msg, StunAttr.ChangeRequest);
  const changeRequest = cr === undefined ? null : decodeChangeRequest(cr);
  if (cr !== undefined && changeRequest === null) return null; // malformed CHANGE-REQUEST: drop
  return {
    transactionId: msg.transactionId,
    changeRequest,
    unknownAttributes: unknownRequiredAttributes(msg),
    fingerprint: msg.fingerprint,
  };
}

export interface BindingResponseParams {
  readonly transactionId: Uint8Array;
  /** where the request came from: goes into XOR-MAPPED-ADDRESS */
  readonly mapped: Endpoint;
  /** RFC 5780 RESPONSE-ORIGIN: the address the response is sent from */
  readonly responseOrigin?: Endpoint;
  readonly otherAddress?: Endpoint;
  readonly software?: string;
  /** fingerprint the response (always when the request had one, RFC 8489 §7.3) */
  readonly fingerprint?: boolean;
}

/** Builds a Binding success response. Returns null when an address cannot be encoded. */
export function buildBindingResponse(p: BindingResponseParams): Uint8Array | null {
  const attrs: StunAttribute[] = [];
  const xma = encodeAddress(p.mapped, true, p.transactionId);
  if (xma === null) return null;
  attrs.push({ type: StunAttr.XorMappedAddress, value: xma });
  if (p.responseOrigin !== undefined) {
    const v = encodeAddress(p.responseOrigin, false, p.transactionId);
    if (v !== null) attrs.push({ type: StunAttr.ResponseOrigin, value: v });
  }
  if (p.otherAddress !== undefined) {
    const v = encodeAddress(p.otherAddress, false, p.transactionId);
    if (v !== null) attrs.push({ type: StunAttr.OtherAddress, value: v });
  }
  const software = p.software ?? DEFAULT_SOFTWARE;
  if (software !== '') attrs.push({ type: StunAttr.Software, value: new TextEncoder().encode(software) });
  return encodeStun(StunType.BindingSuccess, p.transactionId, attrs, p.fingerprint ?? true);
}

/** Builds a Binding error response (e.g. 420 with UNKNOWN-ATTRIBUTES, RFC 8489 §14.9). */
export function buildBindingError(
  transactionId: Uint8Array,
  code: number,
  reason: string,
  unknown: readonly number[] = [],
  software = DEFAULT_SOFTWARE,
): Uint8Array {
  const attrs: StunAttribute[] = [{ type: StunAttr.ErrorCode, value: encodeErrorCode(code, reason) }];
  if (unknown.length > 0)
    attrs.push({ type: StunAttr.UnknownAttributes, value: encodeUnknownAttributes(unknown) });
  if (software !== '') attrs.push({ type: StunAttr.Software, value: new TextEncoder().encode(software) });
  return encodeStun(StunType.BindingError, transactionId, attrs, true);
}

/**
 * Answers a Binding request received on `localAddress` from `from`: XOR-MAPPED-ADDRESS = `from`,
 * RESPONSE-ORIGIN = `localAddress`, SOFTWARE, FINGERPRINT. 420 for unknown comprehension-required
 * attributes. `null` for non-requests, garbage, or when `allow` refuses. Never throws.
 */
export function handleStunRequest(
  bytes: Uint8Array,
  from: Endpoint,
  localAddress: Endpoint,
  options: StunResponderOptions = {},
): Uint8Array | null {
  const req = parseBindingRequest(bytes);
  if (req === null) return null;
  if (options.allow !== undefined && !options.allow(from)) return null;
  const software = options.software ?? DEFAULT_SOFTWARE;
  if (req.unknownAttributes.length > 0) {
    return buildBindingError(req.transactionId, 420, 'Unknown Attribute', req.unknownAttributes, software);
  }
  const cr = req.changeRequest;
  if (cr !== null && (cr.changeIp || cr.changePort) && options.supportsChangeRequest !== true) {
    return buildBindingError(req.transactionId, 420, 'Unknown Attribute', [StunAttr.ChangeRequest], software);
  }
  return buildBindingResponse({
    transactionId: req.transactionId,
    mapped: from,
    responseOrigin: localAddress,
    ...(options.otherAddress !== undefined ? { otherAddress: options.otherAddress } : {}),
    software,
    fingerprint: true,
  });
}
