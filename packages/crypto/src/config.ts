/**
 * Options of a secure endpoint, their defaults and their validation: the only place that reads
 * `SecureEndpointConfig`; the endpoint works from the resolved `SecureConfig`.
 */
import type { Address } from '@srmudp/wire';
import { type CryptoBackend, nobleBackend } from './backend.js';
import { type HandshakeLimits, resolveLimits } from './handshake-guard.js';
import type { Identity } from './identity.js';
import { checkAppOptions, type HandshakeOptions } from './options.js';

/** Timers and limits of the secure channel; every field has a default. */
export interface SecureTiming {
  /** First handshake retransmission after this long without an answer; doubles each time. Default 1000. */
  handshakeRetransmitMs: number;
  /** Ceiling of the retransmission interval. Default 4000. */
  handshakeMaxRetransmitMs: number;
  /** A handshake attempt gives up after this long ('HANDSHAKE_TIMEOUT'). Default 15000. */
  handshakeTimeoutMs: number;
  /** Start a new handshake when the current keys are this old (WireGuard REKEY_AFTER_TIME). Default 120000. */
  rekeyAfterMs: number;
  /** …or after sealing this many packets under them. Default 2^40. */
  rekeyAfterPackets: number;
  /** Keys are erased and never used after this age (WireGuard REJECT_AFTER_TIME). Default 180000. */
  rejectAfterMs: number;
  /** Packets under the previous keys are still accepted this long after a rekey. Default 10000. */
  gracePeriodMs: number;
}

export const DEFAULT_TIMING: SecureTiming = {
  handshakeRetransmitMs: 1000,
  handshakeMaxRetransmitMs: 4000,
  handshakeTimeoutMs: 15_000,
  rekeyAfterMs: 120_000,
  rekeyAfterPackets: 2 ** 40,
  rejectAfterMs: 180_000,
  gracePeriodMs: 10_000,
};

export interface AcceptInfo {
  address: Address;
  pattern: 'IK' | 'XX';
  /** The remote side's application options (types >= 0x10). */
  options: HandshakeOptions;
  /** True when the remote side initiated. */
  incoming: boolean;
}

export interface SecureEndpointConfig {
  identity: Identity;
  /** Cryptographically secure random bytes (ephemeral keys, session indexes, cookie secrets). */
  random: (n: number) => Uint8Array;
  /** Default: the portable noble backend. The Node façade passes `nodeBackend()`. */
  backend?: CryptoBackend;
  /** Accept policy, called before a session with `remoteKey` (Ed25519 peer id) is created:
   * for incoming IK/XX handshakes and for the responder key an outgoing XX dial discovers.
   * Default: accept everyone. */
  acceptPeer?: (remoteKey: Uint8Array, info: AcceptInfo) => boolean;
  /** Answer Noise XX dials from peers that do not know our key. Default true. */
  acceptXX?: boolean;
  /** Application options (types 0x10-0xff) sent in every handshake. */
  options?: HandshakeOptions;
  timing?: Partial<SecureTiming>;
  /** The responder's DoS budgets and load threshold (handshake-guard.ts); every field has a default. */
  limits?: Partial<HandshakeLimits>;
  /**
   * Wall-clock time (ms since 1970) minus the driver's `now`: `now + wallClockOffsetMs` stamps our
   * IK initiations (TAI64N), which a responder accepts only when greater than the last it accepted
   * from us, so they must keep growing when this peer restarts. The Node façade passes
   * `performance.timeOrigin` (with `now = performance.now()`). Default 0: right for a virtual
   * clock that keeps running across restarts.
   */
  wallClockOffsetMs?: number;
  /**
   * Component log (the Node façade passes `srmudp:crypto` when DEBUG names it); silent when
   * absent. Rare events only: handshakes started, answered, done, failed (with the reason),
   * rekeys, key expiry, cookie replies and load changes. Peers appear as the 12-character prefix
   * of their peer id; keys, handshake hashes and payloads never.
   */
  log?: (message: string) => void;
  /**
   * A monotonic clock in ms (the Node façade passes `performance.now`), read only to time the
   * responder's own work on each initiation it answers: under load, the cap of validated
   * handshakes per second is `limits.handshakeCpuShare` of the thread at that measured cost
   * (handshake-guard.ts). Without it the cost is `limits.handshakeCostMs` (deterministic: a
   * virtual clock would measure nothing).
   */
  workClock?: () => number;
  /**
   * Decrypt data packets in place, into the datagram passed to `handle` (the plaintext is a view
   * of it; on a failed authentication its bytes are unspecified). For a caller that hands each
   * datagram over and never reads it again (the Node façade: node:dgram gives a fresh buffer per
   * datagram): no output buffer per packet, and a stream keeps the plaintext as a view instead of
   * copying it. Default false: the datagram is left as it was.
   */
  openInPlace?: boolean;
}

/** `SecureEndpointConfig` validated, with every default filled in. */
export interface SecureConfig {
  readonly identity: Identity;
  readonly random: (n: number) => Uint8Array;
  readonly backend: CryptoBackend;
  readonly acceptPeer: ((remoteKey: Uint8Array, info: AcceptInfo) => boolean) | undefined;
  readonly acceptXX: boolean;
  readonly options: HandshakeOptions | undefined;
  readonly timing: SecureTiming;
  readonly limits: HandshakeLimits;
  readonly wallClockOffsetMs: number;
  readonly log: ((message: string) => void) | null;
  readonly workClock: (() => number) | null;
  readonly openInPlace: boolean;
}

/** Validates `config` (exact TypeError / RangeError messages) and fills in the defaults. */
export function resolveSecureConfig(config: SecureEndpointConfig): SecureConfig {
  if (!config || typeof config.random !== 'function') throw new TypeError('"random" expected a function');
  if (!config.identity || !(config.identity.publicKey instanceof Uint8Array)) {
    throw new TypeError('"identity" expected an Identity');
  }
  checkAppOptions(config.options);
  const timing = { ...DEFAULT_TIMING, ...config.timing };
  for (const [k, v] of Object.entries(timing)) {
    if (typeof v !== 'number' || !(v > 0))
      throw new RangeError(`"timing.${k}" expected a positive number, got ${v}`);
  }
  const offset = config.wallClockOffsetMs ?? 0;
  if (typeof offset !== 'number' || !Number.isFinite(offset))
    throw new RangeError(`"wallClockOffsetMs" expected a finite number, got ${offset}`);
  if (config.log !== undefined && typeof config.log !== 'function')
    throw new TypeError('"log" expected a function');
  if (config.workClock !== undefined && typeof config.workClock !== 'function')
    throw new TypeError('"workClock" expected a function');
  return {
    identity: config.identity,
    random: config.random,
    backend: config.backend ?? nobleBackend(),
    acceptPeer: config.acceptPeer,
    acceptXX: config.acceptXX ?? true,
    options: config.options,
    timing,
    limits: resolveLimits(config.limits),
    wallClockOffsetMs: offset,
    log: config.log ?? null,
    workClock: config.workClock ?? null,
    openInPlace: config.openInPlace === true,
  };
}
