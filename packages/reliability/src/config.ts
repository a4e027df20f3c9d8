/**
 * Options of a connection, their defaults and their validation: the only place that reads
 * `ReliableOptions`; everything else works from the resolved `ConnectionConfig`.
 */
import { DATA_OVERHEAD } from '@srmudp/wire';
import { bbr } from './congestion/bbr.js';
import type { CongestionControllerFactory } from './congestion/controller.js';
import { cubic } from './congestion/cubic.js';
import { newReno } from './congestion/newreno.js';
import { MESSAGE_CHARGE } from './message-queue.js';
import { BASE_PLPMTU } from './pmtud.js';

/**
 * Flow-control values both ends assume before any MAX_* frame arrived (there is no transport
 * parameter exchange): each end announces its real, larger, windows in its first packets.
 */
export const PROTOCOL_INITIAL_MAX_DATA = 64 * 1024;
export const PROTOCOL_INITIAL_MAX_STREAM_DATA = 64 * 1024;
export const PROTOCOL_INITIAL_MAX_STREAMS = 16;

export interface ReliableLimits {
  /** concurrent streams the peer may open (MAX_STREAMS credit), default 100 */
  maxStreams: number;
  /** initial / largest per-stream receive window, default 256 KiB / 16 MiB */
  streamReceiveWindow: number;
  maxStreamReceiveWindow: number;
  /** initial / largest connection receive window, default 1 MiB / 32 MiB */
  connectionReceiveWindow: number;
  maxConnectionReceiveWindow: number;
  /** bytes one stream buffers unacknowledged (write backpressure), default 4 MiB */
  streamSendBuffer: number;
  /** bytes all streams and messages buffer together, default 16 MiB */
  sendBuffer: number;
  /** largest message sent or accepted, default 16 MiB */
  maxMessageSize: number;
  /** bytes of datagrams waiting to be sent, default 256 KiB */
  datagramSendQueue: number;
  /** bytes of received datagrams waiting in pollEvent, default 1 MiB */
  datagramReceiveQueue: number;
}

export const DEFAULT_LIMITS: Readonly<ReliableLimits> = Object.freeze({
  maxStreams: 100,
  streamReceiveWindow: 256 * 1024,
  maxStreamReceiveWindow: 16 * 1024 * 1024,
  connectionReceiveWindow: 1024 * 1024,
  maxConnectionReceiveWindow: 32 * 1024 * 1024,
  streamSendBuffer: 4 * 1024 * 1024,
  sendBuffer: 16 * 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  datagramSendQueue: 256 * 1024,
  datagramReceiveQueue: 1024 * 1024,
});

/** The built-in congestion controllers; their names are shorthands for these factories. */
export const CONGESTION_CONTROLLERS: Readonly<{
  bbr: CongestionControllerFactory;
  cubic: CongestionControllerFactory;
  newreno: CongestionControllerFactory;
}> = Object.freeze({ bbr, cubic, newreno: newReno });

export type CongestionName = keyof typeof CONGESTION_CONTROLLERS;

/** A built-in controller by name, or any `CongestionControllerFactory`. */
export type CongestionChoice = CongestionName | CongestionControllerFactory;

export interface ReliableOptions {
  /** decides stream id parity: the initiator opens even ids, the responder odd ids */
  role: 'initiator' | 'responder';
  now: number;
  /**
   * Congestion controller, default 'bbr'. A factory is called once per path: when the connection
   * is created and again by `resetPath` (a new path starts from a fresh controller).
   */
  congestion?: CongestionChoice;
  /** bytes the carrier adds to every payload (header, AEAD tag), default DATA_OVERHEAD (29) */
  overhead?: number;
  /**
   * Bytes of `overhead` the carrier writes before the payload (its header), default 0. When > 0
   * every Transmit also carries `datagram`: `datagramSize` bytes with the payload at this offset
   * and room for the rest of the overhead (the AEAD tag) after it, so the carrier can seal in place
   * instead of into a second buffer. At most `overhead`.
   */
  headroom?: number;
  /** PMTU search ceiling in bytes of UDP payload: 1472 (IPv4) or 1452 (IPv6, the default) */
  maxUdpPayload?: number;
  limits?: Partial<ReliableLimits>;
  /** PING after this much silence on our side, default 15 000 ms; 0 disables */
  keepaliveMs?: number;
  /** close after this much silence from the peer, default 30 000 ms; 0 disables */
  idleTimeoutMs?: number;
  /** our max_ack_delay (and the one assumed for the peer), default 25 ms */
  maxAckDelayMs?: number;
  /** RTT assumed before the first sample, default 333 ms (RFC 9002 §6.2.2) */
  initialRttMs?: number;
  /**
   * RTT warm-up PINGs after the connection opens (at 50, 150 and 350 ms), default 0 (none).
   * Until the last has left, a sample below every earlier one resets the smoothed RTT to it: for a
   * connection that opens at the end of a handshake, whose samples include queueing behind
   * handshake work (core asks for 1; see liveness.ts and rtt.ts).
   */
  rttProbes?: number;
  /**
   * This side answers the peer's RTT warm-up (default false; core: the accepting side, which opens
   * half a round trip after the dialler): its first warm-up PING waits for the peer's, up to
   * 250 ms, and leaves with the ACK of any PING the peer sends after the open. Either side's
   * warm-up PING owed also leaves early with the ACK of a PING from 30 ms after the open (or its
   * previous one): the two sides' warm-ups cost three datagrams, not four (see liveness.ts).
   */
  rttProbeAnswer?: boolean;
  /** randomness source (reserved for packet-number skipping); unused by the state machine now */
  random?: (n: number) => Uint8Array;
  /**
   * Component log (the Node façade passes `srmudp:reliability`, core prefixes each connection's
   * lines); silent when absent. Rare events only: loss bursts and persistent congestion, PTOs,
   * PMTU changes and black holes, undecodable or duplicate packets, idle timeout, close; never
   * payload bytes.
   */
  log?: (message: string) => void;
}

/** `ReliableOptions` validated, with every default filled in. */
export interface ConnectionConfig {
  readonly role: 'initiator' | 'responder';
  readonly limits: Readonly<ReliableLimits>;
  readonly overhead: number;
  /** bytes of `overhead` before the payload in a Transmit's `datagram` (0: no datagram) */
  readonly headroom: number;
  /** PMTU search ceiling (bytes of UDP payload) */
  readonly maxUdpPayload: number;
  readonly maxAckDelay: number;
  readonly keepaliveMs: number;
  readonly idleTimeoutMs: number;
  readonly initialRtt: number;
  readonly rttProbes: number;
  readonly rttProbeAnswer: boolean;
  readonly congestion: CongestionControllerFactory;
  readonly log: ((message: string) => void) | null;
}

/**
 * What a connection is created with instead of {@link ReliableOptions}: a configuration
 * {@link resolveConfig} returned, reused by as many connections as the caller likes (a caller that
 * creates many, e.g. an endpoint accepting handshakes, resolves once per role and path MTU and
 * builds no options object per connection).
 */
export interface ResolvedReliableOptions {
  readonly config: ConnectionConfig;
  readonly now: number;
}

/** The configurations {@link resolveConfig} returned: the only ones a connection accepts. */
const RESOLVED = new WeakSet<ConnectionConfig>();

/**
 * Validates `options` (exact TypeError / RangeError messages) and fills in the defaults. The result
 * is frozen, and new on every call; `now` is not part of it.
 *
 * Reliability keeps no cache of configurations: sharing one is the caller's, who knows which of its
 * connections may share (core: one per endpoint, role, RTT-probe answering and path MTU, in its
 * `ReliableConfigs`, keyed by one number). A cache here could only key on every option's value and
 * identity (a `log`, a congestion factory, a `limits` object that may change), built on each call,
 * and core would still need its own to build no options object per connection: two owners of one
 * fact. A direct user creating connections from plain options pays the checks it paid before (they
 * ran before the lookup too), plus validating and copying its `limits`, if any, again (~0.5 µs of
 * ~4 µs per connection), and holds one frozen object per connection (two with `limits`); one
 * creating many resolves once and passes `{ config, now }`.
 */
export function resolveConfig(options: ReliableOptions): ConnectionConfig {
  if (options.role !== 'initiator' && options.role !== 'responder') {
    throw new TypeError(`"role" expected 'initiator' or 'responder', got ${String(options.role)}`);
  }
  if (!Number.isFinite(options.now)) throw new TypeError('"now" expected a finite number');
  const limits = resolveLimits(options.limits);
  const overhead = options.overhead ?? DATA_OVERHEAD;
  if (!Number.isSafeInteger(overhead) || overhead < 0 || overhead > 200) {
    throw new RangeError('"overhead" expected an integer in [0, 200]');
  }
  const headroom = options.headroom ?? 0;
  if (!Number.isSafeInteger(headroom) || headroom < 0 || headroom > overhead) {
    throw new RangeError(`"headroom" expected an integer in [0, ${overhead}]`);
  }
  const maxUdpPayload = options.maxUdpPayload ?? 1452;
  if (!Number.isSafeInteger(maxUdpPayload) || maxUdpPayload < BASE_PLPMTU || maxUdpPayload > 65527) {
    throw new RangeError(`"maxUdpPayload" expected an integer in [${BASE_PLPMTU}, 65527]`);
  }
  if (options.log !== undefined && typeof options.log !== 'function')
    throw new TypeError('"log" expected a function');
  const initialRtt = options.initialRttMs ?? 333;
  if (!(initialRtt > 0)) throw new RangeError('"initialRttMs" expected a number > 0');
  const rttProbes = options.rttProbes ?? 0;
  if (!Number.isSafeInteger(rttProbes) || rttProbes < 0 || rttProbes > 10) {
    throw new RangeError('"rttProbes" expected an integer in [0, 10]');
  }
  const rttProbeAnswer = options.rttProbeAnswer ?? false;
  if (typeof rttProbeAnswer !== 'boolean') throw new TypeError('"rttProbeAnswer" expected a boolean');
  const config: ConnectionConfig = Object.freeze({
    role: options.role,
    limits,
    overhead,
    headroom,
    maxUdpPayload,
    maxAckDelay: options.maxAckDelayMs ?? 25,
    keepaliveMs: options.keepaliveMs ?? 15_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    initialRtt,
    rttProbes,
    rttProbeAnswer,
    congestion: congestionFactory(options.congestion ?? 'bbr'),
    log: options.log ?? null,
  });
  RESOLVED.add(config);
  return config;
}

/**
 * The configuration of a connection created with `options`: a {@link ResolvedReliableOptions}'
 * config (TypeError unless {@link resolveConfig} made it), else `options` resolved.
 */
export function configOf(options: ReliableOptions | ResolvedReliableOptions): ConnectionConfig {
  if (!('config' in options)) return resolveConfig(options);
  if (!RESOLVED.has(options.config))
    throw new TypeError('"config" expected a configuration from resolveConfig');
  if (!Number.isFinite(options.now)) throw new TypeError('"now" expected a finite number');
  return options.config;
}

function resolveLimits(partial: Partial<ReliableLimits> | undefined): Readonly<ReliableLimits> {
  if (partial === undefined) return DEFAULT_LIMITS;
  const limits = { ...DEFAULT_LIMITS, ...partial };
  // Object.keys, not Object.entries: no array per key (this runs for every connection created from
  // plain options with `limits`); same keys in the same order, unknown ones included
  for (const k of Object.keys(limits)) {
    const v = limits[k as keyof ReliableLimits];
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`"limits.${k}" expected a non-negative integer`);
  }
  if (limits.streamReceiveWindow < PROTOCOL_INITIAL_MAX_STREAM_DATA) {
    throw new RangeError(`"limits.streamReceiveWindow" must be >= ${PROTOCOL_INITIAL_MAX_STREAM_DATA}`);
  }
  if (limits.connectionReceiveWindow < PROTOCOL_INITIAL_MAX_DATA) {
    throw new RangeError(`"limits.connectionReceiveWindow" must be >= ${PROTOCOL_INITIAL_MAX_DATA}`);
  }
  if (limits.maxStreams < PROTOCOL_INITIAL_MAX_STREAMS) {
    throw new RangeError(`"limits.maxStreams" must be >= ${PROTOCOL_INITIAL_MAX_STREAMS}`);
  }
  if (limits.maxStreamReceiveWindow < limits.streamReceiveWindow) {
    throw new RangeError('"limits.maxStreamReceiveWindow" must be >= streamReceiveWindow');
  }
  if (limits.maxConnectionReceiveWindow < limits.connectionReceiveWindow) {
    throw new RangeError('"limits.maxConnectionReceiveWindow" must be >= connectionReceiveWindow');
  }
  if (limits.maxConnectionReceiveWindow < limits.maxMessageSize + MESSAGE_CHARGE) {
    throw new RangeError('"limits.maxConnectionReceiveWindow" must exceed maxMessageSize');
  }
  return Object.freeze(limits);
}

/** The factory a `CongestionChoice` stands for; TypeError for an unknown name. */
export function congestionFactory(choice: CongestionChoice): CongestionControllerFactory {
  if (typeof choice === 'function') return choice;
  if (choice === 'bbr' || choice === 'cubic' || choice === 'newreno') return CONGESTION_CONTROLLERS[choice];
  throw new TypeError(`"congestion" expected 'bbr', 'cubic', 'newreno' or a factory, got ${String(choice)}`);
}
