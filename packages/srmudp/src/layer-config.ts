/**
 * What the node's options mean for the layers below it, one rule: core's endpoint config (accept
 * policy, congestion, timeouts, limits, the relay service of a gate or of connect-via, the layer
 * logs DEBUG enables) and the NAT session's (STUN servers, timing, birthday, port mapping).
 */

import type { EndpointConfig, EndpointLogs } from '@srmudp/core';
import type { CryptoBackend, Identity } from '@srmudp/crypto';
import type { Endpoint as NatEndpoint, NatSessionConfig } from '@srmudp/punch';
import { CONNECT_VIA_CIRCUIT_LIMITS, connectViaPolicy, groupPolicy, relayService } from '@srmudp/relay';
import { type BoundSocket, gatheringAddresses, hostCandidates } from './candidates.js';
import type { ResolvedNodeOptions } from './config.js';
import { logger } from './log.js';
import { allLiterals, type StunServerName } from './stun-servers.js';

type RelayOptions = NonNullable<EndpointConfig['relay']>;

/** A gate's rate per client in its group (RELAYS.md: a gate lifts the public 1 MiB/s). */
const GATE_RATE = 64 * 1024 * 1024;

/**
 * The inner layers' loggers: core (dials, establishment, paths, closes), crypto (handshakes,
 * rekeys, cookies, load), reliability (loss bursts, PTOs, PMTU, idle timeout), the NAT session.
 */
const layerLogs = {
  core: logger('srmudp:core'),
  crypto: logger('srmudp:crypto'),
  reliability: logger('srmudp:reliability'),
  nat: logger('srmudp:nat'),
};

/**
 * The layers' sinks for a node created now: only those DEBUG enables, so a silent layer does not
 * even build its lines (the pure layers check for a sink, not a level).
 */
export function enabledLayerLogs(): EndpointLogs & { nat?: (message: string) => void } {
  const out: EndpointLogs & { nat?: (message: string) => void } = {};
  for (const k of ['core', 'crypto', 'reliability', 'nat'] as const) {
    if (layerLogs[k].enabled) out[k] = layerLogs[k];
  }
  return out;
}

/** Core's endpoint config for a node with these options. */
export function endpointConfig(
  options: ResolvedNodeOptions,
  parts: {
    identity: Identity;
    random: (n: number) => Uint8Array;
    backend: CryptoBackend;
    /** whether this node accepts a connection from `key` (and relays for it as a gate) */
    accepts: (key: Uint8Array) => boolean;
    logs: EndpointLogs;
  },
): EndpointConfig {
  return {
    identity: parts.identity,
    random: parts.random,
    cryptoBackend: parts.backend,
    accept: { policy: parts.accepts },
    ...(options.congestion ? { congestion: options.congestion } : {}),
    ...(options.keepaliveMs ? { keepaliveMs: options.keepaliveMs } : {}),
    ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.handshakeTimeoutMs ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
    ...(options.limits ? { limits: stripUndefined(options.limits) } : {}),
    // initiation timestamps: performance.now() + timeOrigin ≈ wall clock, monotonic in this
    // process and larger after a restart (a responder refuses replays of older initiations)
    wallClockOffsetMs: performance.timeOrigin,
    log: parts.logs,
    ...withRelay(relayConfig(options, parts.accepts)),
    // times the handshakes this node answers: under load their cap follows their cost
    workClock: () => performance.now(),
    // the driver hands every datagram (a fresh node:dgram buffer, or a WebSocket message) to the
    // endpoint and never reads it again: decrypted in place, kept by streams as views
    ownsDatagrams: true,
  };
}

/**
 * Core's relay options: what this node serves (a gate for its group, or connect-via between two
 * of its live peers) and how long a relay-only connection waits after a relay reported its peer
 * gone. Undefined when nothing differs from core's defaults.
 */
function relayConfig(
  options: ResolvedNodeOptions,
  accepts: (key: Uint8Array) => boolean,
): RelayOptions | undefined {
  const relay = options.relay;
  if (relay === undefined) return undefined;
  const grace = relay.peerGoneGraceMs !== undefined ? { peerGoneGraceMs: relay.peerGoneGraceMs } : {};
  if (relay.serve) {
    const rate = relay.rateBytesPerSec ?? GATE_RATE;
    return {
      ...grace,
      // a gate: both ends must be peers this node accepts (its group)
      serve: relayService({
        policy: groupPolicy({ members: accepts }),
        limits: { rateBytesPerSec: rate, burstBytes: Math.max(256 * 1024, Math.floor(rate / 8)) },
      }),
    };
  }
  if (relay.connectVia) {
    return {
      ...grace,
      // connect-via: between two of our live peers, with the requester's voucher
      serve: relayService({
        policy: connectViaPolicy({
          peers: accepts,
          limits: { ...CONNECT_VIA_CIRCUIT_LIMITS, ...stripUndefined(relay.connectViaLimits ?? {}) },
        }),
      }),
    };
  }
  return relay.peerGoneGraceMs !== undefined ? grace : undefined;
}

const withRelay = (relay: RelayOptions | undefined): { relay?: RelayOptions } => (relay ? { relay } : {});

/** A router can map only for an IPv4 socket that is not bound to loopback. */
export function portMappingWanted(
  options: ResolvedNodeOptions,
  bound: BoundSocket,
  families: ReadonlySet<4 | 6>,
): boolean {
  return options.portMapping && families.has(4) && bound.host !== '::1' && !bound.host.startsWith('127.');
}

/** The NAT session's config for a node with these options and this socket. */
export function natSessionConfig(
  options: ResolvedNodeOptions,
  parts: {
    random: (n: number) => Uint8Array;
    bound: BoundSocket;
    families: ReadonlySet<4 | 6>;
    /** the STUN servers given (`stunServers`), parsed */
    names: readonly StunServerName[] | undefined;
    portMapping: boolean;
    log: ((message: string) => void) | undefined;
  },
): NatSessionConfig {
  return {
    random: parts.random,
    ...stunServersConfig(parts.names, parts.bound, parts.families),
    hostAddresses: gatheringAddresses(hostCandidates(parts.bound)),
    localPort: parts.bound.port,
    ...(options.nat?.timing ? { timing: stripUndefined(options.nat.timing) } : {}),
    ...(options.nat?.birthday ? { birthday: stripUndefined(options.nat.birthday) } : {}),
    ...(parts.log ? { log: parts.log } : {}),
    portMapping: parts.portMapping,
  };
}

/**
 * The session's `stunServers`: omitted (the driver resolves names, the default list when the
 * application gave none), `[]` (off: the application's `stunServers: []`, or a socket bound to
 * loopback, which cannot reach any server), or the literals given.
 */
function stunServersConfig(
  names: readonly StunServerName[] | undefined,
  bound: BoundSocket,
  families: ReadonlySet<4 | 6>,
): { stunServers?: NatEndpoint[] } {
  const loopback = bound.host === '::1' || bound.host.startsWith('127.');
  if (names === undefined) return loopback ? { stunServers: [] } : {};
  if (names.length === 0) return { stunServers: [] };
  if (!allLiterals(names)) return {};
  const usable = names.filter((n) => families.has(n.host.includes(':') ? 6 : 4));
  // literals of a family this socket cannot use: the driver's resolution says "no server" once
  return usable.length > 0 ? { stunServers: usable.map((n) => ({ host: n.host, port: n.port })) } : {};
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
