/**
 * Options of an endpoint, their defaults and their validation: the only place that reads
 * `EndpointConfig`. The endpoint works from the resolved `EndpointSettings`: what crypto gets
 * (its DoS limits, timing, backend), what every connection's reliability state gets (buffers,
 * timers, congestion control), and core's own policy (limits, accept lists).
 */
import type { HandshakeLimits, Identity, SecureEndpointConfig } from '@srmudp/crypto';
import {
  CONGESTION_CONTROLLERS,
  type ConnectionConfig,
  type ReliableOptions,
  type ResolvedReliableOptions,
  resolveConfig,
} from '@srmudp/reliability';
import { type Address, DATA_HEADER_LENGTH } from '@srmudp/wire';
import type { EndpointConfig, LogSink } from './api.js';
import { BOOT_ID_OPTION, DEFAULTS } from './defaults.js';

import type { RelayOptions } from './relays.js';

/** What every connection's reliability state is created with (its role and `now` come later). */
/**
 * RTT warm-up PINGs of every connection: one, 50 ms after it opens. Measured (perf P4, 1,000
 * peers, same run): three cost the accepting server ~5 more datagrams each way per handshake and
 * ~0.13 ms more CPU (1.14 vs 0.98-1.03 ms); one gives the demo the same loopback RTTs.
 */
export const RTT_WARMUP_PROBES = 1;

export type ReliableSettings = Omit<ReliableOptions, 'role' | 'now'>;

/**
 * What an endpoint's connections create their reliability state with: the endpoint's settings
 * plus what differs per connection (its stream-id role, whether it answers the peer's RTT warm-up
 * PING, its path's UDP payload ceiling), resolved once per combination (a handful per endpoint)
 * and shared, so a new connection builds no options object and validates nothing (perf P4,
 * issue 19). The only cache of resolved configurations: reliability's `resolveConfig` keeps none
 * (the endpoint knows which of its connections may share one; see there). With a reliability log
 * each connection gets its own prefixed log, hence its own options.
 */
export class ReliableConfigs {
  private readonly resolved = new Map<number, ConnectionConfig>();

  constructor(private readonly settings: ReliableSettings) {}

  options(
    role: 'initiator' | 'responder',
    rttProbeAnswer: boolean,
    maxUdpPayload: number,
    now: number,
    log: ((message: string) => void) | null,
  ): ReliableOptions | ResolvedReliableOptions {
    if (log !== null) return { ...this.of(role, rttProbeAnswer, maxUdpPayload, now), log };
    const key = (maxUdpPayload * 2 + (rttProbeAnswer ? 1 : 0)) * 2 + (role === 'initiator' ? 1 : 0);
    let config = this.resolved.get(key);
    if (config === undefined) {
      config = resolveConfig(this.of(role, rttProbeAnswer, maxUdpPayload, now));
      this.resolved.set(key, config);
    }
    return { config, now };
  }

  private of(
    role: 'initiator' | 'responder',
    rttProbeAnswer: boolean,
    maxUdpPayload: number,
    now: number,
  ): ReliableOptions {
    return {
      ...this.settings,
      role,
      now,
      rttProbeAnswer,
      maxUdpPayload,
      // the data header goes before the frames: reliability leaves room for it (sealed in place)
      headroom: DATA_HEADER_LENGTH,
    };
  }
}

export interface EndpointSettings {
  readonly identity: Identity;
  readonly random: (n: number) => Uint8Array;
  readonly maxConnections: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly stunResponder: boolean;
  /** allow-list of peer ids (copies), or null: everyone */
  readonly allow: Uint8Array[] | null;
  readonly policy: ((remoteKey: Uint8Array, from: Address) => boolean) | null;
  /** crypto's configuration but for the accept hook and the boot id option, which the endpoint adds */
  readonly secure: Omit<SecureEndpointConfig, 'acceptPeer' | 'options'>;
  readonly reliable: ReliableSettings;
  /** core's own log and reliability's (core prefixes it per connection); null: silent */
  readonly log: LogSink | null;
  readonly reliabilityLog: LogSink | null;
  readonly relay: RelayOptions | undefined;
  /** relay.peerGoneGraceMs, resolved */
  readonly peerGoneGraceMs: number;
  /** wall-clock ms minus `now` (voucher expiry of relays) */
  readonly wallClockOffsetMs: number;
}

/** Validates `config` (exact TypeError / RangeError messages) and fills in the defaults. */
export function resolveEndpointConfig(config: EndpointConfig, now: number): EndpointSettings {
  if (typeof config !== 'object' || config === null) throw new TypeError('"config" expected an object');
  if (typeof config.random !== 'function') throw new TypeError('"random" expected a function');
  if (!config.identity || !(config.identity.publicKey instanceof Uint8Array)) {
    throw new TypeError('"identity" expected an Identity');
  }
  if (!Number.isFinite(now)) throw new TypeError('"now" expected a finite number');
  const limits = config.limits ?? {};
  const maxConnections = positiveInt(limits.maxConnections, DEFAULTS.maxConnections, 'limits.maxConnections');
  const maxPending = positiveInt(
    limits.maxPendingHandshakes,
    DEFAULTS.maxPendingHandshakes,
    'limits.maxPendingHandshakes',
  );
  const cookieThreshold = nonNegInt(
    limits.cookieThreshold,
    DEFAULTS.cookieThreshold,
    'limits.cookieThreshold',
  );
  const wallClockOffsetMs = config.wallClockOffsetMs ?? 0;
  if (typeof wallClockOffsetMs !== 'number' || !Number.isFinite(wallClockOffsetMs)) {
    throw new TypeError(`"wallClockOffsetMs" expected a finite number, got ${String(wallClockOffsetMs)}`);
  }
  const maxBuffered = positiveInt(
    limits.maxBufferedBytesPerConnection,
    DEFAULTS.maxBufferedBytesPerConnection,
    'limits.maxBufferedBytesPerConnection',
  );
  if (maxBuffered < 1024 * 1024) {
    throw new RangeError(`"limits.maxBufferedBytesPerConnection" must be >= 1048576, got ${maxBuffered}`);
  }
  const keepaliveMs = nonNegInt(config.keepaliveMs, DEFAULTS.keepaliveMs, 'keepaliveMs');
  const idleTimeoutMs = nonNegInt(config.idleTimeoutMs, DEFAULTS.idleTimeoutMs, 'idleTimeoutMs');
  const handshakeTimeoutMs = positiveInt(
    config.handshakeTimeoutMs,
    DEFAULTS.handshakeTimeoutMs,
    'handshakeTimeoutMs',
  );
  const congestion = config.congestion;
  if (congestion !== undefined && typeof congestion !== 'function') {
    if (typeof congestion !== 'string' || !Object.hasOwn(CONGESTION_CONTROLLERS, congestion)) {
      throw new RangeError(
        `"congestion" expected 'bbr', 'cubic', 'newreno' or a CongestionControllerFactory, got ${String(congestion)}`,
      );
    }
  }
  if (config.accept?.allow !== undefined) {
    if (!Array.isArray(config.accept.allow)) throw new TypeError('"accept.allow" expected an array');
    for (const k of config.accept.allow) {
      if (!(k instanceof Uint8Array) || k.length !== 32) {
        throw new TypeError('"accept.allow" expected 32-byte Uint8Array peer ids');
      }
    }
  }
  if (config.accept?.policy !== undefined && typeof config.accept.policy !== 'function') {
    throw new TypeError('"accept.policy" expected a function');
  }
  const logs = config.log ?? {};
  if (typeof logs !== 'object' || logs === null) {
    throw new TypeError('"log" expected an object { core?, crypto?, reliability? } of functions');
  }
  for (const k of ['core', 'crypto', 'reliability'] as const) {
    if (logs[k] !== undefined && typeof logs[k] !== 'function')
      throw new TypeError(`"log.${k}" expected a function`);
  }
  const handshakeLimits: Partial<HandshakeLimits> = {
    maxPending,
    loadThreshold: cookieThreshold,
    maxPendingPerPrefix: Math.max(4, Math.min(64, Math.ceil(maxPending / 4))),
  };
  // Memory per connection: half for sending, half for receiving (reliability's buffers).
  const half = Math.floor(maxBuffered / 2);
  return {
    identity: config.identity,
    random: config.random,
    maxConnections,
    handshakeTimeoutMs,
    idleTimeoutMs,
    stunResponder: config.stunResponder !== false,
    relay: checkRelay(config.relay),
    peerGoneGraceMs: nonNegInt(
      config.relay?.peerGoneGraceMs,
      DEFAULTS.peerGoneGraceMs,
      'relay.peerGoneGraceMs',
    ),
    wallClockOffsetMs,
    allow: config.accept?.allow ? config.accept.allow.map((k) => k.slice()) : null,
    policy: config.accept?.policy ?? null,
    secure: {
      identity: config.identity,
      random: config.random,
      ...(config.cryptoBackend !== undefined ? { backend: config.cryptoBackend } : {}),
      // the responder's DoS policy (cookies by rate, per-source budgets) lives in crypto
      limits: handshakeLimits,
      wallClockOffsetMs,
      ...(logs.crypto !== undefined ? { log: logs.crypto } : {}),
      ...(config.workClock !== undefined ? { workClock: config.workClock } : {}),
      ...(config.ownsDatagrams === true ? { openInPlace: true } : {}),
      timing: {
        handshakeTimeoutMs,
        handshakeRetransmitMs: Math.min(1000, Math.max(50, Math.floor(handshakeTimeoutMs / 8))),
      },
    },
    reliable: {
      ...(congestion !== undefined ? { congestion } : {}),
      keepaliveMs,
      idleTimeoutMs,
      // a connection opens at the end of a handshake, whose RTT samples queue behind handshake
      // work: a few PINGs after it re-measure (reliability's liveness.ts, rtt.ts)
      rttProbes: RTT_WARMUP_PROBES,
      random: config.random,
      limits: {
        sendBuffer: half,
        streamSendBuffer: Math.min(4 * 1024 * 1024, half),
        maxConnectionReceiveWindow: half,
        connectionReceiveWindow: Math.min(1024 * 1024, half),
        maxStreamReceiveWindow: Math.min(16 * 1024 * 1024, half),
        maxMessageSize: Math.min(16 * 1024 * 1024, half - 4096),
      },
    },
    log: logs.core ?? null,
    reliabilityLog: logs.reliability ?? null,
  };
}

/** Handshake options every endpoint sends: its boot id (restart detection). */
export function bootOptions(bootId: Uint8Array): Map<number, Uint8Array> {
  return new Map([[BOOT_ID_OPTION, bootId]]);
}

function positiveInt(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new RangeError(`"${name}" expected a positive integer, got ${v}`);
  return v;
}

function nonNegInt(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`"${name}" expected a non-negative integer, got ${v}`);
  return v;
}

function checkRelay(relay: RelayOptions | undefined): RelayOptions | undefined {
  if (relay === undefined) return undefined;
  if (typeof relay !== 'object' || relay === null) throw new TypeError('"relay" expected an object');
  if (relay.serve !== undefined && typeof relay.serve !== 'function') {
    throw new TypeError(
      '"relay.serve" expected a RelayServiceFactory (@srmudp/relay\'s relayService({ policy, limits? }))',
    );
  }
  if (relay.acceptCircuit !== undefined && typeof relay.acceptCircuit !== 'function') {
    throw new TypeError('"relay.acceptCircuit" expected a function');
  }
  return relay;
}
