/**
 * Limits of the relay and their defaults (RELAYS.md "Limits", to tune by measurement). Per client:
 * a token bucket, circuits, message size, send queues; per circuit: duration and bytes.
 */

/** Limits of one circuit. 0 means "no limit" (or "no preference" in a request). */
export interface CircuitLimits {
  /** the circuit ends with `duration_limit` this long after it opened */
  readonly durationMs: number;
  /** the circuit ends with `data_limit` once this many payload bytes (both directions) passed */
  readonly bytes: number;
}

export const NO_CIRCUIT_LIMITS: CircuitLimits = /* @__PURE__ */ Object.freeze({ durationMs: 0, bytes: 0 });

/** Connect-via circuits (a participant relaying for two of its peers) unless it opts in to more:
 * 2 min / 4 MiB. libp2p's 2 min / 128 KiB proved too tight for real transfers (helia#1124). */
export const CONNECT_VIA_CIRCUIT_LIMITS: CircuitLimits = /* @__PURE__ */ Object.freeze({
  durationMs: 120_000,
  bytes: 4_194_304, // 4 MiB
});

/** The tighter of two limits, field by field (0 = no limit). */
export function tighterLimits(a: CircuitLimits, b: Partial<CircuitLimits> | null | undefined): CircuitLimits {
  if (!b) return a;
  return {
    durationMs: tighter(a.durationMs, b.durationMs ?? 0),
    bytes: tighter(a.bytes, b.bytes ?? 0),
  };
}

function tighter(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

export function checkCircuitLimits(name: string, l: Partial<CircuitLimits> | undefined): CircuitLimits {
  const durationMs = l?.durationMs ?? 0;
  const bytes = l?.bytes ?? 0;
  checkCount(`${name}.durationMs`, durationMs);
  checkCount(`${name}.bytes`, bytes);
  return { durationMs, bytes };
}

/** Everything the relay service bounds. */
export interface RelayLimits {
  /** hop sessions registered at once (admitted or not) */
  readonly maxClients: number;
  /** circuits plus pending requests, relay-wide */
  readonly maxCircuits: number;
  /** circuits plus pending requests per client, as requester or target */
  readonly maxCircuitsPerClient: number;
  /** INCOMINGs a target may have unanswered at once */
  readonly maxPendingPerTarget: number;
  /** token bucket per client on the channel data it sends (bytes/s; 0 = unlimited) */
  readonly rateBytesPerSec: number;
  /** bucket depth in bytes */
  readonly burstBytes: number;
  /** largest channel datagram (header included) and largest control message */
  readonly maxMessageSize: number;
  /** per-destination send queue, dropped oldest-first when either bound is passed */
  readonly sendQueuePackets: number;
  readonly sendQueueBytes: number;
  /** separate small queue for end-to-end handshake packets (0x81-0x84), drop-oldest */
  readonly handshakeQueuePackets: number;
  /** a queued datagram older than this is dropped instead of sent (`stale`) */
  readonly writeTimeoutMs: number;
  /** an end's binding lasts this long unless refreshed (data never refreshes it, as TURN) */
  readonly bindingLifetimeMs: number;
  /** the target must ACCEPT or REJECT an INCOMING within this */
  readonly incomingTimeoutMs: number;
  /** limits of every circuit, tightened further by the request, voucher, policy and target */
  readonly circuit: CircuitLimits;
  /** a voucher may expire at most this far in the future */
  readonly voucherMaxTtlMs: number;
  /** clock difference tolerated between requester and relay when checking voucher expiry */
  readonly clockSkewMs: number;
  /** voucher nonces remembered (until their voucher expires) to refuse replays */
  readonly maxVoucherNonces: number;
  /** at most one rate-limited / unknown-channel notice per client per this interval */
  readonly noticeIntervalMs: number;
}

// The module's tables are `@__PURE__` calls over plain numbers (no `256 * 1024`: esbuild keeps a
// pure call whose arguments compute), so a bundle that only runs a relay client, the browser's,
// drops them (test/bundle.test.ts of @srmudp/browser).
export const DEFAULT_RELAY_LIMITS: RelayLimits = /* @__PURE__ */ Object.freeze({
  maxClients: 10_000,
  maxCircuits: 20_000,
  maxCircuitsPerClient: 8,
  maxPendingPerTarget: 8,
  rateBytesPerSec: 1_048_576, // 1 MiB/s
  burstBytes: 262_144, // 256 KiB
  maxMessageSize: 65_536,
  sendQueuePackets: 256,
  sendQueueBytes: 1_048_576, // 1 MiB
  handshakeQueuePackets: 16,
  writeTimeoutMs: 2_000,
  bindingLifetimeMs: 300_000,
  incomingTimeoutMs: 10_000,
  circuit: NO_CIRCUIT_LIMITS,
  voucherMaxTtlMs: 600_000,
  clockSkewMs: 30_000,
  maxVoucherNonces: 65_536,
  noticeIntervalMs: 1_000,
});

/** Per-client overrides an admission policy may give (a gate lifts the rate for its group). */
export interface ClientLimits {
  readonly rateBytesPerSec?: number;
  readonly burstBytes?: number;
  readonly maxCircuits?: number;
}

function checkCount(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`"${name}" expected non-negative integer, got ${String(v)}`);
  }
}

function checkPositive(name: string, v: unknown): void {
  checkCount(name, v);
  if (v === 0) throw new RangeError(`"${name}" expected positive integer, got 0`);
}

/** Defaults merged with `partial`, validated (RangeError with the field name). */
export function resolveRelayLimits(partial: Partial<RelayLimits> = {}): RelayLimits {
  const l = { ...DEFAULT_RELAY_LIMITS, ...partial };
  for (const k of [
    'maxClients',
    'maxCircuits',
    'maxCircuitsPerClient',
    'maxPendingPerTarget',
    'sendQueuePackets',
    'sendQueueBytes',
    'handshakeQueuePackets',
    'writeTimeoutMs',
    'bindingLifetimeMs',
    'incomingTimeoutMs',
    'voucherMaxTtlMs',
    'maxVoucherNonces',
  ] as const) {
    checkPositive(`limits.${k}`, l[k]);
  }
  checkCount('limits.rateBytesPerSec', l.rateBytesPerSec);
  checkCount('limits.clockSkewMs', l.clockSkewMs);
  checkCount('limits.noticeIntervalMs', l.noticeIntervalMs);
  checkPositive('limits.burstBytes', l.burstBytes);
  if (l.maxMessageSize < 64 || l.maxMessageSize > 65_539 || !Number.isInteger(l.maxMessageSize)) {
    throw new RangeError(`"limits.maxMessageSize" expected integer in [64, 65539], got ${l.maxMessageSize}`);
  }
  return { ...l, circuit: checkCircuitLimits('limits.circuit', l.circuit) };
}

export function checkClientLimits(c: ClientLimits): void {
  if (c.rateBytesPerSec !== undefined) checkCount('rateBytesPerSec', c.rateBytesPerSec);
  if (c.burstBytes !== undefined) checkPositive('burstBytes', c.burstBytes);
  if (c.maxCircuits !== undefined) checkPositive('maxCircuits', c.maxCircuits);
}
