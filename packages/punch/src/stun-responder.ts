/**
 * STUN Binding responder (RFC 8489 §6.3): every srmudp node answers Binding requests on its one
 * socket, so a connected peer or gate can serve as a reflector. Pure functions: bytes in, bytes out.
 */
import {
  type Address,
  encodeStunNoIntegrity,
  type StunChangeRequest,
  type StunMessage,
  StunMethod,
  unknownComprehensionRequired,
} from '@srmudp/wire';
import { toIpAddress } from './address.js';
import { tryDecodeBinding } from './stun-codec.js';

export const DEFAULT_SOFTWARE = 'srmudp';

/** CHANGE-REQUEST attribute type (RFC 5780 §7.2). */
const CHANGE_REQUEST = 0x0003;

export interface StunResponderOptions {
  /** SOFTWARE attribute value (RFC 8489 §14.14); empty string omits it. Default 'srmudp'. */
  readonly software?: string;
  /**
   * Rate-limit / policy hook, asked before answering (a reflector must not become an amplifier:
   * a Binding response is at most ~2× the request). Return false to drop the request silently.
   */
  readonly allow?: (from: Address) => boolean;
  /** RFC 5780 OTHER-ADDRESS to advertise, when this responder can answer from another IP and port. */
  readonly otherAddress?: Address;
}

export interface BindingRequestInfo {
  readonly transactionId: Uint8Array;
  readonly changeRequest: StunChangeRequest | null;
  /** comprehension-required attributes we do not understand (non-empty → answer 420) */
  readonly unknownAttributes: readonly number[];
  readonly fingerprint: boolean;
}

/** Parses a Binding request; null for anything else (responses, indications, garbage). Never throws. */
export function parseBindingRequest(bytes: Uint8Array): BindingRequestInfo | null {
  const msg: StunMessage | null = tryDecodeBinding(bytes);
  if (msg === null || msg.class !== 'request') return null;
  return {
    transactionId: msg.transactionId.slice(),
    changeRequest: msg.changeRequest ?? null,
    unknownAttributes: unknownComprehensionRequired(msg),
    fingerprint: msg.fingerprint === true,
  };
}

export interface BindingResponseParams {
  readonly transactionId: Uint8Array;
  /** where the request came from: goes into XOR-MAPPED-ADDRESS */
  readonly mapped: Address;
  /** RFC 5780 RESPONSE-ORIGIN: the address the response is sent from */
  readonly responseOrigin?: Address;
  readonly otherAddress?: Address;
  readonly software?: string;
}

/** Builds a fingerprinted Binding success response; null when `mapped` is not an IP address. */
export function buildBindingResponse(p: BindingResponseParams): Uint8Array | null {
  const mapped = toIpAddress(p.mapped);
  if (mapped === null) return null;
  const origin = p.responseOrigin === undefined ? null : toIpAddress(p.responseOrigin);
  const other = p.otherAddress === undefined ? null : toIpAddress(p.otherAddress);
  const software = p.software ?? DEFAULT_SOFTWARE;
  return encodeStunNoIntegrity(
    {
      class: 'success',
      method: StunMethod.Binding,
      transactionId: p.transactionId,
      xorMappedAddress: mapped,
      ...(origin !== null ? { responseOrigin: origin } : {}),
      ...(other !== null ? { otherAddress: other } : {}),
      ...(software !== '' ? { software } : {}),
    },
    { fingerprint: true },
  );
}

/** Builds a fingerprinted Binding error response (e.g. 420 with UNKNOWN-ATTRIBUTES, RFC 8489 §14.9). */
export function buildBindingError(
  transactionId: Uint8Array,
  code: number,
  reason: string,
  unknown: readonly number[] = [],
  software = DEFAULT_SOFTWARE,
): Uint8Array {
  return encodeStunNoIntegrity(
    {
      class: 'error',
      method: StunMethod.Binding,
      transactionId,
      errorCode: { code, reason },
      ...(unknown.length > 0 ? { unknownAttributes: unknown.slice() } : {}),
      ...(software !== '' ? { software } : {}),
    },
    { fingerprint: true },
  );
}

/**
 * Answers a Binding request received on `localAddress` from `from`: XOR-MAPPED-ADDRESS = `from`,
 * RESPONSE-ORIGIN = `localAddress` (omitted when null: a socket that does not know its address),
 * SOFTWARE, FINGERPRINT. 420 (Unknown Attribute, RFC 8489
 * §6.3.1.1) for unknown comprehension-required attributes, and for a CHANGE-REQUEST asking for a
 * change this single-socket responder cannot honour (RFC 5780 §6.1), so the client learns filtering
 * tests are impossible here instead of misreading silence. A multi-address reflector uses
 * {@link parseBindingRequest} + {@link buildBindingResponse} instead. `null` for non-requests,
 * garbage, or when `allow` refuses. Never throws.
 */
export function handleStunRequest(
  bytes: Uint8Array,
  from: Address,
  localAddress: Address | null,
  options: StunResponderOptions = {},
): Uint8Array | null {
  const req = parseBindingRequest(bytes);
  if (req === null) return null;
  try {
    if (options.allow !== undefined && !options.allow(from)) return null;
    const software = options.software ?? DEFAULT_SOFTWARE;
    if (req.unknownAttributes.length > 0) {
      return buildBindingError(req.transactionId, 420, 'Unknown Attribute', req.unknownAttributes, software);
    }
    const cr = req.changeRequest;
    if (cr !== null && (cr.changeIp || cr.changePort)) {
      return buildBindingError(req.transactionId, 420, 'Unknown Attribute', [CHANGE_REQUEST], software);
    }
    return buildBindingResponse({
      transactionId: req.transactionId,
      mapped: from,
      ...(localAddress !== null ? { responseOrigin: localAddress } : {}),
      ...(options.otherAddress !== undefined ? { otherAddress: options.otherAddress } : {}),
      software,
    });
  } catch {
    // encodeStun only throws for values we passed in (e.g. an over-long SOFTWARE): drop, never throw
    return null;
  }
}
