/**
 * The typed reasons of the relay protocol and their wire codes (varints). libp2p circuit relay
 * v2's status codes are the model (refused, resource limit, permission denied, no reservation,
 * malformed, unexpected); srmudp adds the voucher checks, relay chains and timeouts.
 *
 * Codes are strict in protocol version 1: an unknown code is `BAD_VALUE`. A relay speaking a later
 * version sends a v1 client only v1 codes (the handshake option tells it the client's version).
 */

/** Why a request (CONNECT, ACCEPT, REFRESH) or an INCOMING was turned down. */
export const REJECT_REASONS = {
  /** the target (or its host) declined the circuit */
  refused: 1,
  /** a relay or target limit: circuits per client, pending requests, relay capacity, nonce cache */
  resource_limit: 2,
  /** the admission policy does not allow this requester, target or group */
  permission_denied: 3,
  /** the target has no hop session with the relay (libp2p's NO_RESERVATION) */
  target_unavailable: 4,
  /** the message could not be decoded or is invalid (e.g. a circuit to oneself) */
  malformed: 5,
  /** an answer to nothing: ACCEPT of an unknown or expired INCOMING, REFRESH of an unknown channel */
  unexpected: 6,
  /** the voucher is missing (when required), badly signed, or names another relay/requester/target */
  voucher_invalid: 7,
  /** the voucher's expiry has passed */
  voucher_expired: 8,
  /** the voucher's nonce was already used */
  voucher_replayed: 9,
  /** one end's hop is itself relayed: srmudp allows at most two hops, never relay chains */
  relay_chain: 10,
  /** the target did not answer in time */
  timeout: 11,
  /** a message type or protocol version this side does not speak */
  unsupported: 12,
} as const;
export type RejectReason = keyof typeof REJECT_REASONS;

/** Why a circuit ended. */
export const CLOSE_REASONS = {
  /** one end closed it */
  normal: 0,
  /** the circuit's duration limit was reached */
  duration_limit: 1,
  /** the circuit's byte limit was reached */
  data_limit: 2,
  /** an end's binding was not refreshed before its expiry */
  expired: 3,
  /** the other end's hop session went down */
  peer_gone: 4,
  /** the other end's key connected again from another hop */
  replaced: 5,
  /** the relay is shutting down (a STATUS restarting precedes it) */
  relay_shutdown: 6,
  /** the admission policy no longer allows it */
  policy: 7,
  /** data arrived on a channel the relay has not bound for this hop (e.g. after a relay restart) */
  unknown_channel: 8,
} as const;
export type CloseReason = keyof typeof CLOSE_REASONS;

/** STATUS codes (iroh relay's health frames, Tailscale DERP's announced token bucket). */
export const STATUS_CODES = {
  /** greeting sent at every new hop session: relay instance, hop epoch and the client's limits */
  healthy: 0,
  /** the client's packets are being dropped by its token bucket: pace to `rate`/`burst` */
  rate_limited: 1,
  /** the same key opened another hop session; this one is replaced */
  same_key_elsewhere: 2,
  /** the relay is going away: reconnect after `reconnectInMs`, try for `tryForMs` */
  restarting: 3,
  /** this client may not use the relay (admission) or the relay is full */
  denied: 4,
} as const;
export type StatusCode = keyof typeof STATUS_CODES;

function inverse<T extends Record<string, number>>(table: T): (keyof T)[] {
  const out: (keyof T)[] = [];
  for (const [name, code] of Object.entries(table)) out[code] = name as keyof T;
  return out;
}

const REJECT_BY_CODE = inverse(REJECT_REASONS);
const CLOSE_BY_CODE = inverse(CLOSE_REASONS);
const STATUS_BY_CODE = inverse(STATUS_CODES);

export function rejectReasonOf(code: number): RejectReason | undefined {
  return REJECT_BY_CODE[code];
}
export function closeReasonOf(code: number): CloseReason | undefined {
  return CLOSE_BY_CODE[code];
}
export function statusCodeOf(code: number): StatusCode | undefined {
  return STATUS_BY_CODE[code];
}

export function isRejectReason(x: unknown): x is RejectReason {
  return typeof x === 'string' && Object.hasOwn(REJECT_REASONS, x);
}
export function isCloseReason(x: unknown): x is CloseReason {
  return typeof x === 'string' && Object.hasOwn(CLOSE_REASONS, x);
}
